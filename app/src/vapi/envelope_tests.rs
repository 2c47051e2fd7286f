//! Tests of the envelope parser against every payload variant VAPI.md §1 lists.

use super::*;
use serde_json::json;

/// Parses `value`'s text, and checks that [`parse_value`] reads the very same message from the
/// value itself, so every test below holds for both entry points.
fn parse_json(value: Value) -> ServerMessage {
    let message = parse(value.to_string().as_bytes()).expect("parses");
    assert_eq!(
        parse_value(&value).expect("parse_value parses"),
        message,
        "parse_value and parse disagree on {value}"
    );
    message
}

fn args(call: &ToolCall) -> &Map<String, Value> {
    call.arguments.as_ref().expect("usable arguments")
}

#[test]
fn the_documented_tool_calls_message_yields_calls_and_identity() {
    let body = json!({"message": {
        "type": "tool-calls",
        "timestamp": 1728393715369u64,
        "toolCallList": [
            {"id": "call_fzEw1", "type": "function",
             "function": {"name": "book_appointment", "arguments": {"date": "2026-07-01", "time": "09:00"}}}
        ],
        "toolWithToolCallList": [
            {"type": "function",
             "function": {"name": "book_appointment", "parameters": {"type": "object"}},
             "toolCall": {"id": "other", "type": "function",
                          "function": {"name": "nope", "arguments": {}}}}
        ],
        "call": {"id": "6b3c", "orgId": "a1b2", "type": "inboundPhoneCall", "status": "in-progress",
                 "phoneNumberId": "5e6f", "assistantId": "9a8b",
                 "customer": {"number": "+14155550123"},
                 "monitor": {"controlUrl": "https://x/control"}},
        "phoneNumber": {"id": "5e6f", "orgId": "a1b2", "number": "+19254207621", "provider": "twilio"},
        "customer": {"number": "+14155550123"},
        "assistant": {"name": "Front desk", "metadata": {"accountId": "acct_123"}}
    }});
    let m = parse_json(body);
    assert_eq!(m.kind, MessageKind::ToolCalls);
    assert_eq!(m.tool_calls.len(), 1);
    let call = &m.tool_calls[0];
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("call_fzEw1", "book_appointment")
    );
    assert_eq!(args(call)["date"], "2026-07-01");
    assert_eq!(args(call)["time"], "09:00");
    assert_eq!(
        m.call,
        CallContext {
            call_id: Some("6b3c".into()),
            org_id: Some("a1b2".into()),
            assistant_id: Some("9a8b".into()),
            phone_number_id: Some("5e6f".into()),
            practice_number: Some(E164::parse("+19254207621").unwrap()),
            customer_number: Some(E164::parse("+14155550123").unwrap()),
            account_id: Some("acct_123".into()),
            control_url: Some("https://x/control".into()),
        }
    );
}

#[test]
fn a_missing_or_odd_control_url_is_none() {
    for monitor in [
        json!(null),
        json!({}),
        json!({"controlUrl": ["https://x/control"]}),
        json!({"controlUrl": "  "}),
        json!("https://x/control"),
    ] {
        let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [],
            "call": {"id": "c", "monitor": monitor}}}));
        assert_eq!(m.call.control_url, None, "{monitor}");
    }
}

#[test]
fn a_bare_message_at_the_root_is_accepted() {
    let m = parse_json(json!({"type": "tool-calls", "toolCallList": [
        {"id": "c1", "function": {"name": "find_patient", "arguments": {}}}]}));
    assert_eq!(m.kind, MessageKind::ToolCalls);
    assert_eq!(m.tool_calls[0].name, "find_patient");
    let with_own_message = parse_json(json!({"type": "status-update", "status": "ended",
        "message": {"text": "not an envelope"}}));
    assert_eq!(with_own_message.kind, MessageKind::StatusUpdate);
}

#[test]
fn arguments_sent_as_json_text_are_decoded() {
    let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "c1", "function": {"name": "check", "arguments": "{\"date\":\"2026-07-01\"}"}},
        {"id": "c2", "function": {"name": "check", "arguments": "  "}}
    ]}}));
    assert_eq!(args(&m.tool_calls[0])["date"], "2026-07-01");
    assert!(args(&m.tool_calls[1]).is_empty());
}

#[test]
fn unusable_arguments_are_reported_per_call_not_for_the_whole_request() {
    let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "c1", "function": {"name": "a", "arguments": "[1,2]"}},
        {"id": "c2", "function": {"name": "b", "arguments": "{not json"}},
        {"id": "c3", "function": {"name": "c", "arguments": 42}},
        {"id": "c4", "function": {"name": "d", "arguments": ["x"]}},
        {"id": "c5", "function": {"name": "e", "arguments": {"ok": true}}}
    ]}}));
    let errors: Vec<String> = m.tool_calls[..4]
        .iter()
        .map(|c| c.arguments.clone().unwrap_err())
        .collect();
    for e in &errors {
        assert!(e.starts_with("arguments must be a JSON object"), "{e}");
    }
    assert!(errors[0].contains("an array"), "{}", errors[0]);
    assert!(errors[1].contains("not valid JSON"), "{}", errors[1]);
    assert!(errors[2].contains("a number"), "{}", errors[2]);
    assert_eq!(args(&m.tool_calls[4])["ok"], true);
}

#[test]
fn missing_or_null_arguments_are_an_empty_object() {
    let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "c1", "function": {"name": "list_providers"}},
        {"id": "c2", "function": {"name": "list_providers", "arguments": null}}
    ]}}));
    assert!(args(&m.tool_calls[0]).is_empty());
    assert!(args(&m.tool_calls[1]).is_empty());
}

#[test]
fn flat_items_and_function_parameters_are_accepted() {
    let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "c1", "name": "flat", "parameters": {"a": 1}},
        {"id": "c2", "name": "flat_args", "arguments": "{\"b\":2}"},
        {"id": "c3", "function": {"name": "fn_params", "parameters": {"c": 3}}}
    ]}}));
    let names: Vec<&str> = m.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["flat", "flat_args", "fn_params"]);
    assert_eq!(args(&m.tool_calls[0])["a"], 1);
    assert_eq!(args(&m.tool_calls[1])["b"], 2);
    assert_eq!(args(&m.tool_calls[2])["c"], 3);
}

#[test]
fn calls_are_read_from_tool_calls_then_tool_with_tool_call_list() {
    let older = parse_json(json!({"message": {"type": "tool-calls",
        "toolCallList": [],
        "toolCalls": [{"id": "old", "function": {"name": "x", "arguments": {}}}]}}));
    assert_eq!(older.tool_calls[0].id, "old");

    let nested = parse_json(json!({"message": {"type": "tool-calls",
    "toolWithToolCallList": [
        {"type": "function", "function": {"name": "x", "parameters": {"type": "object"}},
         "toolCall": {"id": "n1", "function": {"name": "x", "arguments": {"k": "v"}}}},
        {"type": "function", "toolCall": {"id": "n2", "function": {"name": "y"}}}
    ]}}));
    let ids: Vec<&str> = nested.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["n1", "n2"]);
    assert_eq!(args(&nested.tool_calls[0])["k"], "v");
}

#[test]
fn parallel_calls_keep_their_order_and_nameless_calls_are_kept() {
    let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "1", "function": {"name": "first"}},
        {"id": "2", "function": {"arguments": {}}},
        {"id": "3", "function": {"name": "third"}}
    ]}}));
    let got: Vec<(&str, &str)> = m
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(got, [("1", "first"), ("2", ""), ("3", "third")]);
}

#[test]
fn the_legacy_function_call_message_yields_one_call_without_id() {
    let m = parse_json(json!({"message": {"type": "function-call",
        "functionCall": {"name": "book", "parameters": {"date": "2026-07-01"}},
        "call": {"id": "c"}}}));
    assert_eq!(m.kind, MessageKind::FunctionCall);
    assert_eq!(m.tool_calls.len(), 1);
    assert_eq!(m.tool_calls[0].id, "");
    assert_eq!(m.tool_calls[0].name, "book");
    assert_eq!(args(&m.tool_calls[0])["date"], "2026-07-01");
}

#[test]
fn string_timestamps_unknown_fields_and_odd_types_do_not_fail() {
    let m = parse_json(json!({"message": {"type": "tool-calls",
        "timestamp": "2024-10-08T13:21:55.369Z",
        "somethingNew": {"deeply": [1, {"nested": null}]},
        "call": {"id": 17, "orgId": ["weird"], "customer": "not an object"},
        "customer": {"number": "anonymous"},
        "toolCallList": [{"id": "c1", "function": {"name": "x"}, "extra": true}]}}));
    assert_eq!(m.call.call_id.as_deref(), Some("17"));
    assert_eq!(m.call.org_id, None);
    assert_eq!(m.call.customer_number, None);
    assert_eq!(m.tool_calls.len(), 1);
}

#[test]
fn the_callers_number_falls_back_to_the_call_and_is_normalised() {
    let m = parse_json(json!({"message": {"type": "tool-calls",
        "call": {"customer": {"number": "(415) 555-0123"}}}}));
    assert_eq!(
        m.call.customer_number,
        Some(E164::parse("+14155550123").unwrap())
    );
    let web = parse_json(json!({"message": {"type": "tool-calls", "call": {"id": "w"}}}));
    assert_eq!(web.call.customer_number, None);
}

#[test]
fn the_account_id_is_also_read_from_the_calls_assistant_and_overrides() {
    let from_call = parse_json(json!({"message": {"type": "tool-calls",
        "call": {"assistant": {"metadata": {"accountId": "acct_call"}}}}}));
    assert_eq!(from_call.call.account_id.as_deref(), Some("acct_call"));
    let from_overrides = parse_json(json!({"message": {"type": "tool-calls",
        "assistant": {"metadata": {"other": 1}},
        "call": {"assistantOverrides": {"metadata": {"accountId": "acct_ovr"}}}}}));
    assert_eq!(from_overrides.call.account_id.as_deref(), Some("acct_ovr"));
}

#[test]
fn other_server_messages_carry_their_kind_status_and_reason() {
    let status = parse_json(json!({"message": {"type": "status-update", "status": "ended"}}));
    assert_eq!(status.kind, MessageKind::StatusUpdate);
    assert_eq!(status.status.as_deref(), Some("ended"));
    let report = parse_json(json!({"message": {"type": "end-of-call-report",
        "endedReason": "customer-ended-call", "artifact": {"messages": []}}}));
    assert_eq!(report.kind, MessageKind::EndOfCallReport);
    assert_eq!(report.ended_reason.as_deref(), Some("customer-ended-call"));
    for (kind, expected) in [
        (
            "transfer-destination-request",
            MessageKind::TransferDestinationRequest,
        ),
        ("assistant-request", MessageKind::AssistantRequest),
        ("knowledge-base-request", MessageKind::KnowledgeBaseRequest),
        ("speech-update", MessageKind::Other("speech-update".into())),
    ] {
        assert_eq!(
            parse_json(json!({"message": {"type": kind}})).kind,
            expected
        );
    }
}

#[test]
fn bodies_that_are_not_messages_are_rejected_with_a_precise_reason() {
    let err = parse(b"{\"message\": {\"type\": ").unwrap_err();
    let EnvelopeError::InvalidJson { line, column, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*line, *column), (1, 21));
    assert!(err.to_string().contains("line 1 column 21"), "{err}");

    assert_eq!(parse(b"[1]"), Err(EnvelopeError::NotAnObject("an array")));
    assert_eq!(
        parse(b"\"hi\""),
        Err(EnvelopeError::NotAnObject("a string"))
    );
    assert_eq!(parse(b"{}"), Err(EnvelopeError::NoMessage));
    assert_eq!(
        parse(b"{\"message\": \"text\"}"),
        Err(EnvelopeError::NoMessage)
    );
    assert_eq!(parse(b"{\"message\": {}}"), Err(EnvelopeError::NoType));
    assert_eq!(
        parse(b"{\"message\": {\"type\": true}}"),
        Err(EnvelopeError::NoType)
    );
    assert!(matches!(
        parse(b"{} x"),
        Err(EnvelopeError::InvalidJson { .. })
    ));
    // The same refusals from a body already parsed into a value.
    let json_but_no_message: [&[u8]; 6] = [
        b"[1]",
        b"\"hi\"",
        b"{}",
        b"{\"message\": \"text\"}",
        b"{\"message\": {}}",
        b"{\"message\": {\"type\": true}}",
    ];
    for body in json_but_no_message {
        let value: Value = serde_json::from_slice(body).expect("JSON");
        assert_eq!(parse_value(&value), parse(body));
        assert!(parse_value(&value).is_err());
    }
}

#[test]
fn escaped_strings_are_decoded() {
    let m = parse(br#"{"message":{"type":"tool-calls","toolCallList":[{"id":"c\u0031","function":{"name":"b\"k","arguments":"{\"n\":\"\\u00e9\"}"}}]}}"#).unwrap();
    assert_eq!(m.tool_calls[0].id, "c1");
    assert_eq!(m.tool_calls[0].name, "b\"k");
    assert_eq!(args(&m.tool_calls[0])["n"], "é");
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn arbitrary_json_inside_a_message_never_panics(text in "\\PC{0,64}", n in proptest::num::i64::ANY) {
        let body = json!({"message": {"type": "tool-calls", "call": {"id": n, "customer": {"number": text.clone()}},
            "toolCallList": [{"id": text.clone(), "function": {"name": n, "arguments": text.clone()}}]}});
        let m = parse(body.to_string().as_bytes()).unwrap();
        proptest::prop_assert_eq!(m.tool_calls.len(), 1);
    }
}

#[test]
fn debug_of_a_message_never_shows_argument_values() {
    let m = parse_json(json!({"message": {"type": "tool-calls", "toolCallList": [
        {"id": "c1", "function": {"name": "search_patients",
            "arguments": {"first_name": "Olivia", "date_of_birth": "1988-04-12"}}}
    ]}}));
    let shown = format!("{m:?} {:#?}", m.tool_calls[0]);
    assert!(
        !shown.contains("Olivia") && !shown.contains("1988"),
        "{shown}"
    );
    assert!(
        shown.contains("first_name") && shown.contains("search_patients"),
        "{shown}"
    );
}
