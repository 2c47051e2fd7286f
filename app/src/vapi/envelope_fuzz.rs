//! Property tests of the envelope parser ([`super::envelope::parse`]) with many cases: arbitrary
//! bytes, and Vapi's documented bodies (`tests/data/vapi/server-messages.json`) mutated byte by
//! byte or value by value, never panic; a body whose message keeps its `type` always parses,
//! whatever happens to the rest; and generated tool calls come back exactly, in order.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::envelope::{EnvelopeError, MessageKind, parse};
use crate::fuzz::{BODY_CASES, ByteEdit, byte_edit, edit_bytes, replace_value, replacement};

const BODIES: &str = include_str!("../../../tests/data/vapi/server-messages.json");

fn seeds() -> Vec<Value> {
    let all: Vec<Value> = serde_json::from_str(BODIES).expect("server-messages.json is JSON");
    assert!(all.len() >= 10, "the documented bodies are all there");
    all.into_iter().map(|e| e["body"].clone()).collect()
}

fn seed() -> impl Strategy<Value = Value> {
    prop::sample::select(seeds())
}

/// A JSON value as a language model or a mangled payload might send it.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// How many arrays and objects deep `value` goes.
fn nesting(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

fn any_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,12}|\\PC{0,8}", any_json(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(BODY_CASES))]

    #[test]
    fn arbitrary_bytes_are_refused_or_read_never_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = parse(&bytes);
    }

    #[test]
    fn mutated_documented_bodies_never_panic(
        body in seed(),
        edits in prop::collection::vec(byte_edit(), 1..6),
    ) {
        let bytes = edit_bytes(serde_json::to_vec(&body).unwrap(), &edits);
        match parse(&bytes) {
            Ok(message) => {
                for call in &message.tool_calls {
                    if let Err(why) = &call.arguments {
                        prop_assert!(!why.is_empty(), "an unusable argument says why");
                    }
                }
            }
            Err(EnvelopeError::InvalidJson { line, column, .. }) => {
                prop_assert!(line >= 1 && column <= bytes.len() + 1);
            }
            Err(_) => {}
        }
    }

    /// Be liberal with the envelope: once the message has its `type`, no other value, of any
    /// type or removed, makes the body unreadable (nesting beyond serde_json's recursion limit
    /// excepted: that body is refused, not crashed on).
    #[test]
    fn a_message_with_its_type_survives_any_value_replaced(
        mut body in seed(),
        edits in prop::collection::vec((any::<usize>(), replacement()), 1..4),
    ) {
        for (index, with) in &edits {
            replace_value(&mut body, *index, with);
        }
        // serde_json refuses nesting beyond 128 arrays and objects, wherever it starts.
        let deep = nesting(&body) >= 128;
        let text = serde_json::to_vec(&body).unwrap();
        let parsed = parse(&text);
        if let Some(kind) = body["message"]["type"].as_str() && !deep {
            let message = parsed.unwrap_or_else(|e| panic!("{e} for {body}"));
            prop_assert_eq!(message.kind.clone(), expected_kind(kind));
        }
    }

}

proptest! {
    // Generating nested arguments costs more than parsing them: fewer, richer cases.
    #![proptest_config(ProptestConfig::with_cases(BODY_CASES / 6))]

    /// Whatever the ids, names and arguments, and whichever form the arguments take, the calls
    /// come back as sent and in order.
    #[test]
    fn generated_calls_come_back_exactly_and_in_order(
        calls in prop::collection::vec(("\\PC{0,24}", "\\PC{0,24}", any_object(), any::<bool>()), 1..6),
        list in prop::sample::select(vec!["toolCallList", "toolCalls", "toolWithToolCallList"]),
    ) {
        let items: Vec<Value> = calls
            .iter()
            .map(|(id, name, args, as_text)| {
                let args = if *as_text {
                    Value::String(Value::Object(args.clone()).to_string())
                } else {
                    Value::Object(args.clone())
                };
                let call = json!({"id": id, "type": "function",
                    "function": {"name": name, "arguments": args}});
                if list == "toolWithToolCallList" {
                    json!({"type": "function", "toolCall": call})
                } else {
                    call
                }
            })
            .collect();
        let body = json!({"message": {"type": "tool-calls", list: items}});
        let message = parse(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(message.tool_calls.len(), calls.len());
        for (got, (id, name, args, _)) in message.tool_calls.iter().zip(&calls) {
            prop_assert_eq!(&got.id, id);
            prop_assert_eq!(&got.name, name);
            prop_assert_eq!(got.arguments.as_ref().ok(), Some(args));
        }
    }
}

fn expected_kind(kind: &str) -> MessageKind {
    match kind {
        "tool-calls" => MessageKind::ToolCalls,
        "function-call" => MessageKind::FunctionCall,
        "transfer-destination-request" => MessageKind::TransferDestinationRequest,
        "status-update" => MessageKind::StatusUpdate,
        "end-of-call-report" => MessageKind::EndOfCallReport,
        "assistant-request" => MessageKind::AssistantRequest,
        "knowledge-base-request" => MessageKind::KnowledgeBaseRequest,
        other => MessageKind::Other(other.to_owned()),
    }
}

#[test]
fn every_documented_body_parses_with_its_calls() {
    let expected_calls = [1, 2, 1, 2, 1, 1, 0, 0, 0, 0, 0];
    let seeds = seeds();
    assert_eq!(seeds.len(), expected_calls.len());
    for (body, calls) in seeds.iter().zip(expected_calls) {
        let message = parse(body.to_string().as_bytes()).expect("a documented body parses");
        assert_eq!(message.tool_calls.len(), calls, "{body}");
        for call in &message.tool_calls {
            assert!(!call.id.is_empty() || message.kind == MessageKind::FunctionCall);
            assert!(call.arguments.is_ok(), "{body}");
        }
    }
}

/// Found by `a_message_with_its_type_survives_any_value_replaced`: one call-list item that was
/// not an object made the whole body unreadable.
#[test]
fn a_call_list_item_that_is_not_an_object_is_skipped_not_fatal() {
    let body = json!({"message": {"type": "tool-calls", "toolCalls": [
        5, null, "x", [1],
        {"id": "call_1", "function": {"name": "list_providers", "arguments": {}}}
    ]}});
    let message = parse(body.to_string().as_bytes()).expect("the body is read");
    assert_eq!(message.tool_calls.len(), 1);
    assert_eq!(message.tool_calls[0].id, "call_1");
    let none = json!({"message": {"type": "tool-calls", "toolCallList": [7],
        "toolCalls": [{"id": "call_2", "name": "list_providers"}]}});
    let message = parse(none.to_string().as_bytes()).unwrap();
    assert_eq!(
        message.tool_calls[0].id, "call_2",
        "a list of no calls falls through"
    );
}

#[test]
fn edits_reach_the_parser_as_refusals_not_panics() {
    // The mutation helpers really break a body (so the properties above test something).
    let body = serde_json::to_vec(&seeds()[0]).unwrap();
    let cut = edit_bytes(body, &[ByteEdit::Truncate(40)]);
    assert!(matches!(
        parse(&cut),
        Err(EnvelopeError::InvalidJson { .. })
    ));
}
