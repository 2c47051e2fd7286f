//! Every payload Vapi really sends: each optional field of the envelope, walked from the served
//! OpenAPI document (so a field added to the schema is covered without touching this file), may
//! be null, absent or present, and the call is answered all the same; unknown message types get
//! `{}`; the route's tool and the body's tool must agree; a refusal never echoes what was sent.

use gateway_tests::{TestApp, fixture::*};
use serde_json::{Map, Value, json};

/// A real inbound phone call's `tool-calls` message (VAPI.md §1), carrying the call both in
/// `toolCallList` and in `toolWithToolCallList` as Vapi does.
fn phone_call() -> Value {
    let call = json!({"id": "tc_1", "type": "function",
        "function": {"name": "list_providers", "arguments": {}}});
    json!({"message": {
        "type": "tool-calls",
        "timestamp": 1_728_393_715_369_u64,
        "toolCallList": [call.clone()],
        "toolWithToolCallList": [{"type": "function",
            "function": {"name": "list_providers", "parameters": {"type": "object"}},
            "server": {"url": "https://gw.example.com/vapi/tools/list_providers", "timeoutSeconds": 20},
            "toolCall": call}],
        "call": {"id": "6b3c-call", "orgId": "org_1", "type": "inboundPhoneCall", "status": "in-progress",
            "phoneNumberId": "pn_demo", "assistantId": "asst_demo",
            "customer": {"number": OLIVIA.phone},
            "assistantOverrides": {"metadata": {"accountId": "acct_demo"}},
            "monitor": {"controlUrl": "https://example.com/control"}},
        "phoneNumber": {"id": "pn_demo", "orgId": "org_1", "number": "+15105550199", "provider": "twilio"},
        "customer": {"number": OLIVIA.phone},
        "assistant": {"id": "asst_demo", "name": "Receptionist", "metadata": {"accountId": "acct_demo"}}
    }})
}

/// Follows `$ref` and a single-`$ref` `allOf` (how a nullable reference is written).
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.rsplit('/').next().unwrap();
        return resolve(doc, &doc["components"]["schemas"][name]);
    }
    match schema["allOf"].as_array().map(Vec::as_slice) {
        Some([only]) => resolve(doc, only),
        _ => schema,
    }
}

/// A value of `schema`'s type, with its required fields filled.
fn synthesize(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    match schema["type"].as_str() {
        Some("string") => json!("x"),
        Some("integer") | Some("number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([]),
        _ => {
            let mut obj = Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                obj.insert(name.into(), synthesize(doc, &schema["properties"][name]));
            }
            Value::Object(obj)
        }
    }
}

/// One optional envelope field: where it is (JSON pointer segments) and a value for it.
/// `alternative`: one of several fields of which the schema needs one (`anyOf` of `required`,
/// such as `function` or a flat `name`); absent and null must then be answered alike.
#[derive(Debug)]
struct Field {
    path: Vec<String>,
    present: Value,
    is_array: bool,
    alternative: bool,
}

/// The names `anyOf`/`allOf` branches of `schema` require (not its own `required`).
fn alternatives(schema: &Value, out: &mut Vec<String>) {
    for key in ["anyOf", "allOf"] {
        for branch in schema[key].as_array().into_iter().flatten() {
            let names = branch["required"].as_array().into_iter().flatten();
            out.extend(names.filter_map(Value::as_str).map(str::to_owned));
            alternatives(branch, out);
        }
    }
}

/// Every optional property reachable from `schema` along `base`, except tool arguments.
fn optional_fields(
    doc: &Value,
    schema: &Value,
    base: &Value,
    path: &[String],
    out: &mut Vec<Field>,
) {
    let schema = resolve(doc, schema);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut either = Vec::new();
    alternatives(schema, &mut either);
    for (name, prop) in schema["properties"].as_object().into_iter().flatten() {
        if name == "arguments" || name == "parameters" {
            continue; // the tool's arguments: strict, not envelope
        }
        let here: Vec<String> = path.iter().cloned().chain([name.clone()]).collect();
        let value = &base[name];
        let target = resolve(doc, prop);
        if !required.contains(&name.as_str()) {
            out.push(Field {
                path: here.clone(),
                present: if value.is_null() {
                    synthesize(doc, prop)
                } else {
                    value.clone()
                },
                is_array: target["type"] == "array",
                alternative: either.contains(name),
            });
        }
        if value.is_object() {
            optional_fields(doc, target, value, &here, out);
        } else if let Some(first) = value.as_array().and_then(|a| a.first()) {
            let items = &target["items"];
            let index: Vec<String> = here.iter().cloned().chain(["0".to_owned()]).collect();
            optional_fields(doc, items, first, &index, out);
        }
    }
}

fn set(body: &mut Value, path: &[String], value: Option<Value>) {
    let (last, parents) = path.split_last().unwrap();
    let mut node = body;
    for p in parents {
        node = match node {
            Value::Array(items) => &mut items[p.parse::<usize>().unwrap()],
            other => &mut other[p.as_str()],
        };
    }
    let obj = node.as_object_mut().expect("a parent object");
    match value {
        Some(v) => obj.insert(last.clone(), v),
        None => obj.remove(last),
    };
}

async fn every_optional_field_may_be_null_absent_or_present(path: &str) {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schema =
        &doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let base = phone_call();
    let mut fields = Vec::new();
    optional_fields(&doc, schema, &base, &[], &mut fields);
    let names: Vec<String> = fields.iter().map(|f| f.path.join(".")).collect();
    for expected in [
        "message.customer",
        "message.phoneNumber",
        "message.call.customer",
        "message.toolCallList",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not walked: {names:?}"
        );
    }
    for field in &fields {
        let mut variants = vec![
            ("null", Some(Value::Null)),
            ("absent", None),
            ("present", Some(field.present.clone())),
        ];
        if field.is_array {
            variants.push(("empty", Some(json!([]))));
        }
        let mut absent_answer = None;
        for (variant, value) in variants {
            let mut body = base.clone();
            set(&mut body, &field.path, value);
            let resp = app.post_signed(path, body.to_string().as_bytes()).await;
            let status = resp.status().as_u16();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            let at = format!("{} {variant} on {path}", field.path.join("."));
            if field.alternative && variant != "present" {
                // Null (or empty) is answered exactly as absence is.
                match &absent_answer {
                    None => absent_answer = Some((status, v)),
                    Some(first) => assert_eq!(first, &(status, v), "{at}: null and absent differ"),
                }
                continue;
            }
            assert_eq!(status, 200, "{at}: {v}");
            let results = v["results"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: {v}"));
            assert_eq!(results.len(), 1, "{at}: one result per call: {v}");
            assert_eq!(results[0]["toolCallId"], "tc_1", "{at}: {v}");
            assert!(
                results[0]["result"]
                    .as_str()
                    .is_some_and(|r| r.contains(DR_LEE)),
                "{at}: answered by the bound practice: {v}"
            );
        }
    }
}

#[tokio::test]
async fn every_optional_envelope_field_may_be_null_absent_or_present_on_a_tool_route() {
    every_optional_field_may_be_null_absent_or_present("/vapi/tools/list_providers").await;
}

#[tokio::test]
async fn every_optional_envelope_field_may_be_null_absent_or_present_on_the_webhook() {
    every_optional_field_may_be_null_absent_or_present("/vapi/webhook").await;
}

#[tokio::test]
async fn unknown_message_types_with_null_objects_get_an_empty_object() {
    let app = TestApp::spawn().await;
    let body = json!({"message": {"type": "conversation-update", "call": null, "customer": null,
        "phoneNumber": null, "assistant": null, "toolCallList": null, "status": null,
        "messages": [], "artifact": {"messages": []}}});
    let resp = app
        .post_signed("/vapi/webhook", body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
}

#[tokio::test]
async fn a_body_naming_another_tool_than_its_route_is_refused_and_audited() {
    let app = TestApp::spawn().await;
    let mut body = phone_call();
    body["message"]["toolCallList"][0]["function"]["name"] = json!("search_patients");
    body["message"]["toolWithToolCallList"] = json!(null);
    let resp = app
        .post_signed("/vapi/tools/get_patient_info", body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let error = v["results"][0]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        error.contains("disagree") && error.contains("get_patient_info"),
        "{v}"
    );
    assert!(v["results"][0]["result"].is_null(), "{v}");
    let entry = app
        .audit_entries()
        .into_iter()
        .find(|e| e["resource"] == "get_patient_info")
        .expect("audited");
    assert_eq!(entry["outcome"], "denied", "{entry}");
    assert!(
        entry["patient_ids"].as_array().is_none_or(Vec::is_empty),
        "{entry}"
    );
}

#[tokio::test]
async fn a_refused_body_is_described_without_echoing_what_was_sent() {
    let app = TestApp::spawn().await;
    let mut body = phone_call();
    let sent = format!("{}-{}-{}", OLIVIA.first, OLIVIA.dob, "x".repeat(200));
    body["message"]["call"]["id"] = json!(sent);
    let resp = app
        .post_signed("/vapi/tools/list_providers", body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    let problem: Value = resp.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("/message/call/id"),
        "names the place: {detail}"
    );
    assert!(detail.contains("128"), "says what is expected: {detail}");
    assert!(
        !detail.contains(OLIVIA.first) && !detail.contains(OLIVIA.dob),
        "{detail}"
    );
}
