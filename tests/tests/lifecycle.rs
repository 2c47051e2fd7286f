//! The process as an operator sees it: configuration errors that name the variable, health
//! and readiness, request ids, graceful shutdown that flushes the audit spool, and an audit
//! chain that verifies end to end and continues across a restart.

use std::process::Command;

use gateway_tests::{Caller, TestApp, audit_entries_in, gateway_bin};
use serde_json::json;

#[test]
fn a_bad_setting_stops_the_process_naming_the_variable() {
    for (var, value, expected) in [
        ("PORT", "abc", "TCP port"),
        ("VAPI_AUTH_MODE", "magic", "hmac"),
        ("AUDIT_FSYNC", "perhaps", "true or false"),
    ] {
        let out = Command::new(gateway_bin())
            .env_clear()
            .env(var, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(var) && stderr.contains(expected),
            "{var}: {stderr}"
        );
    }
}

#[tokio::test]
async fn health_readiness_and_request_ids() {
    let app = TestApp::spawn().await;
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200);
    assert!(live.headers().contains_key("x-request-id"));
    let ready = app
        .client
        .get(app.url("/readyz"))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(ready.headers()["x-request-id"], "trace-me-123");
    let spec = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(spec.status().as_u16(), 200);
    let doc: serde_json::Value = spec.json().await.unwrap();
    assert!(
        doc["paths"]["/vapi/tools/book_appointment"]["post"]["operationId"] == "book_appointment"
    );
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    // Log lines are JSON and carry the request id.
    let out = app.output();
    assert!(
        out.lines()
            .any(|l| l.starts_with('{') && l.contains("trace-me-123")),
        "{out}"
    );
}

#[tokio::test]
async fn sigterm_flushes_the_audit_spool_and_the_chain_survives_a_restart() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        app.tool("search_patients", json!({}), &Caller::from("+13105550100"))
            .await
            .ok();
    }
    let (status, _output, dir) = app.terminate();
    assert!(status.success(), "graceful exit: {status:?}");
    let first = audit_entries_in(dir.path());
    assert_eq!(first.len(), 5);

    let app = TestApp::spawn_in(dir, &[]).await;
    app.tool("list_providers", json!({}), &Caller::default())
        .await
        .ok();
    let (_, _, dir) = app.terminate();
    let all = audit_entries_in(dir.path());
    assert_eq!(all.len(), 6);
    assert_eq!(all[5]["seq"], 6);
    assert_eq!(all[5]["prev"], all[4]["hash"]);

    let path = dir.path().join("audit.jsonl");
    let ok = Command::new(gateway_bin())
        .args(["audit-verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("6 entries"));

    // Tampering is detected, with the line named.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"outcome\":\"success\"", "\"outcome\":\"denied\"", 1),
    )
    .unwrap();
    let bad = Command::new(gateway_bin())
        .args(["audit-verify", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("line 1"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
