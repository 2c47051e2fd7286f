//! Every envelope variant Vapi sends (several calls answered in order, the legacy function
//! call), how a call finds its practice, the webhook's server messages (the transfer destination
//! included), unknown tools and unusable arguments, and what happens to requests that are too
//! large, malformed or sent with an unsupported method.

use gateway_tests::{Caller, TestApp, fixture::*};
use serde_json::{Value, json};

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let resp = app.post_signed(path, body.to_string().as_bytes()).await;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Sends raw bytes and returns the response's head (status line and headers).
async fn raw_status(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer before it has read everything: a failed write is not the test's concern.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut buf = vec![0; 4096];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn ctx() -> Value {
    json!({"id": "call_env", "orgId": "org_1", "phoneNumberId": "pn_demo", "customer": {"number": OLIVIA.phone}})
}

#[tokio::test]
async fn calls_are_read_from_every_list_variant_and_answered_in_order() {
    let app = TestApp::spawn().await;
    let calls = json!([
        {"id": "a", "type": "function", "function": {"name": "list_providers", "arguments": {}}},
        // Arguments as JSON text (transfer_to_human stood here: it now answers an error here,
        // this request having no live call control).
        {"id": "b", "type": "function", "function": {"name": "check_availability", "arguments": json!({"date": light_day().to_string()}).to_string()}},
        {"id": "c", "name": "check_availability", "parameters": {"date": light_day().to_string()}},
        {"id": "d", "function": {"name": "search_patients", "parameters": {}}},
    ]);
    for key in ["toolCallList", "toolCalls"] {
        let body = json!({"message": {"type": "tool-calls", "timestamp": "2026-11-25T10:00:00Z", key: calls, "call": ctx(), "unknownField": {"x": 1}}});
        let (status, v) = post(&app, "/vapi/webhook", body).await;
        assert_eq!(status, 200, "{v}");
        let ids: Vec<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["toolCallId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"], "{key}");
        for r in v["results"].as_array().unwrap() {
            assert!(r["result"].is_string(), "{key}: {r}");
            assert!(!r["result"].as_str().unwrap().contains('\n'));
        }
        assert!(
            v["results"][3]["result"]
                .as_str()
                .unwrap()
                .contains(OLIVIA.id),
            "caller id through call.customer: {v}"
        );
    }
    // Only inside toolWithToolCallList.
    let body = json!({"message": {"type": "tool-calls", "call": ctx(), "toolWithToolCallList": [
        {"type": "function", "function": {"name": "list_providers"}, "toolCall": {"id": "w1", "type": "function", "function": {"name": "list_providers", "arguments": {}}}}
    ]}});
    let (status, v) = post(&app, "/vapi/webhook", body).await;
    assert_eq!(status, 200);
    assert_eq!(v["results"][0]["toolCallId"], "w1");
    assert!(v["results"][0]["result"].as_str().unwrap().contains(DR_LEE));
}

#[tokio::test]
async fn the_practice_is_found_by_account_then_phone_number_id_then_number() {
    let app = TestApp::spawn().await;
    let call = |message_extra: Value| {
        let mut m = json!({"type": "tool-calls", "toolCallList": [{"id": "p", "function": {"name": "list_providers", "arguments": {}}}]});
        for (k, v) in message_extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        json!({ "message": m })
    };
    let ok = |v: &Value| {
        v["results"][0]["result"]
            .as_str()
            .is_some_and(|r| r.contains(PRACTICE_NAME))
    };
    let (_, v) = post(
        &app,
        "/vapi/tools/list_providers",
        call(json!({"call": {"phoneNumberId": "pn_demo"}})),
    )
    .await;
    assert!(ok(&v), "by phoneNumberId: {v}");
    let (_, v) = post(
        &app,
        "/vapi/tools/list_providers",
        call(json!({"phoneNumber": {"number": "+15105550199"}})),
    )
    .await;
    assert!(ok(&v), "by practice number: {v}");
    let (_, v) = post(
        &app,
        "/vapi/tools/list_providers",
        call(json!({"call": {"phoneNumberId": "pn_other"}})),
    )
    .await;
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not set up"),
        "{v}"
    );
    let (_, v) = post(&app, "/vapi/tools/list_providers", call(json!({}))).await;
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not set up"),
        "{v}"
    );
}

#[tokio::test]
async fn legacy_function_call_is_answered_with_result() {
    let app = TestApp::spawn().await;
    let body = json!({"message": {"type": "function-call", "functionCall": {"name": "list_providers", "parameters": {}}, "call": ctx()}});
    let (status, v) = post(&app, "/vapi/webhook", body).await;
    assert_eq!(status, 200);
    assert!(v["result"].as_str().unwrap().contains(DR_LEE), "{v}");
    assert!(v.get("results").is_none());
}

#[tokio::test]
async fn unknown_tool_names_and_unusable_arguments_get_errors_not_failures() {
    let app = TestApp::spawn().await;
    let body = json!({"message": {"type": "tool-calls", "call": ctx(), "toolCallList": [
        {"id": "x", "function": {"name": "drop_tables", "arguments": {}}},
        {"id": "y", "function": {"name": "check_availability", "arguments": "not json"}},
    ]}});
    let (status, v) = post(&app, "/vapi/webhook", body).await;
    assert_eq!(status, 200);
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("no tool named"),
        "{v}"
    );
    assert!(
        v["results"][1]["error"]
            .as_str()
            .unwrap()
            .contains("arguments"),
        "{v}"
    );
}

#[tokio::test]
async fn server_messages_without_a_reply_get_an_empty_object() {
    let app = TestApp::spawn().await;
    for kind in [
        "status-update",
        "end-of-call-report",
        "speech-update",
        "hang",
        "something-new",
    ] {
        let body = json!({"message": {"type": kind, "status": "ended", "endedReason": "customer-ended-call", "call": ctx(),
            "artifact": {"transcript": "my date of birth is 1985-03-14"}}});
        let (status, v) = post(&app, "/vapi/webhook", body).await;
        assert_eq!((status, v), (200, json!({})), "{kind}");
    }
    assert!(
        !app.output().contains("1985-03-14"),
        "the transcript is never logged"
    );
}

#[tokio::test]
async fn transfer_destination_request_gets_the_front_desk() {
    // Open all day, every day (outside the hours: tests/tests/front_desk.rs).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schedule.json");
    let day = json!([{"provider_id": "DDS1", "start": "00:00", "end": "23:59"}]);
    let week: serde_json::Map<String, Value> = gateway::pms::sandbox::WEEKDAYS
        .iter()
        .map(|d| (d.to_string(), day.clone()))
        .collect();
    std::fs::write(&path, Value::Object(week).to_string()).unwrap();
    let app = TestApp::spawn_with(&[("SANDBOX_SCHEDULE", path.to_str().unwrap())]).await;
    let body = json!({"message": {"type": "transfer-destination-request", "call": ctx()}});
    let (status, v) = post(&app, "/vapi/webhook", body).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["destination"],
        json!({"type": "number", "number": TRANSFER_NUMBER}),
        "{v}"
    );
    assert_eq!(v["message"]["type"], "request-start");
}

#[tokio::test]
async fn oversized_bodies_get_413_and_malformed_ones_400_with_problem_details() {
    let app = TestApp::spawn().await;
    // Refused from the declared length, before the body is read.
    let status = raw_status(&app, "POST /vapi/tools/list_providers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n{").await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    // And when the length is not declared, once the limit is read.
    let big = format!(
        "{{\"message\":{{\"type\":\"tool-calls\",\"pad\":\"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let chunked = format!(
        "POST /vapi/tools/list_providers HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    let status = raw_status(&app, &chunked).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");

    for (body, why) in [
        ("{\"message\": ", "JSON"),
        ("[1,2]", "object"),
        (
            "{\"message\":{\"type\":\"tool-calls\",\"toolCallList\":[]}}",
            "no tool call",
        ),
    ] {
        let resp = app
            .post_signed("/vapi/tools/list_providers", body.as_bytes())
            .await;
        assert_eq!(resp.status().as_u16(), 400, "{body}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["status"], 400);
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&why.to_lowercase()),
            "{why}: {v}"
        );
    }
    // Nothing reached a tool.
    assert!(
        app.audit_entries()
            .iter()
            .all(|e| e["resource"] != "list_providers")
    );
}

#[tokio::test]
async fn several_calls_in_one_tool_route_request_are_answered_in_order() {
    let app = TestApp::spawn().await;
    let caller = Caller::from(OLIVIA.phone);
    let mut body = TestApp::message(
        "check_availability",
        json!({"date": light_day().to_string()}),
        &caller,
        "first",
    );
    body["message"]["toolCallList"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "second", "function": {"name": "check_availability", "arguments": {"date": "bad"}}}));
    let (status, v) = post(&app, "/vapi/tools/check_availability", body).await;
    assert_eq!(status, 200);
    assert_eq!(v["results"][0]["toolCallId"], "first");
    assert!(v["results"][0]["result"].is_string());
    assert_eq!(v["results"][1]["toolCallId"], "second");
    assert!(v["results"][1]["error"].is_string());
}

#[tokio::test]
async fn tool_routes_accept_every_documented_variant_and_refuse_what_the_schema_refuses() {
    let app = TestApp::spawn().await;
    let args = json!({"date": light_day().to_string()});
    for calls in [
        json!({"toolCalls": [{"id": "v1", "function": {"name": "check_availability", "arguments": args}}]}),
        json!({"toolCallList": [{"id": "v1", "name": "check_availability", "parameters": args}]}),
        json!({"toolCallList": [{"id": "v1", "function": {"name": "check_availability", "arguments": args.to_string()}}]}),
        json!({"toolWithToolCallList": [{"toolCall": {"id": "v1", "function": {"name": "check_availability", "arguments": args}}}]}),
    ] {
        let mut message = calls.clone();
        message["type"] = json!("tool-calls");
        message["call"] = ctx();
        let (status, v) = post(
            &app,
            "/vapi/tools/check_availability",
            json!({ "message": message }),
        )
        .await;
        assert_eq!(status, 200, "{calls}: {v}");
        assert!(
            v["results"][0]["result"]
                .as_str()
                .unwrap()
                .contains("slots"),
            "{calls}: {v}"
        );
    }
    // A call id that is not a string is refused, and the answer says where.
    let body = json!({"message": {"type": "tool-calls", "toolCallList": [{"id": 7, "function": {"name": "check_availability", "arguments": {}}}]}});
    let (status, v) = post(&app, "/vapi/tools/check_availability", body).await;
    assert_eq!(status, 400);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("/message/toolCallList/0/id"),
        "{v}"
    );
}

#[tokio::test]
async fn an_unsupported_method_is_answered_405_with_allow() {
    let app = TestApp::spawn().await;
    // Unauthenticated requests are refused first, whatever the method.
    let resp = app
        .client
        .get(app.url("/vapi/tools/check_availability"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let ts = gateway_tests::clock().now().as_second().to_string();
    let resp = app
        .client
        .get(app.url("/vapi/tools/check_availability"))
        .header("x-timestamp", &ts)
        .header("x-signature", app.sign(&ts, b""))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
}
