//! Every authentication mode: a valid request is served; a wrong signature, a stale timestamp, a
//! missing header or a wrong token gets 401 with nothing in the body and an audit entry of
//! outcome "denied"; with no secret configured the Vapi routes refuse with 503. Custom HMAC
//! settings are honoured, a signed request is accepted once (its replay refused and audited),
//! and a payload format without a timestamp needs an explicit opt-in and warns.

use gateway_tests::{Caller, TestApp, gateway_bin, unique};
use serde_json::json;

fn body() -> Vec<u8> {
    TestApp::message("list_providers", json!({}), &Caller::default(), "auth_call")
        .to_string()
        .into_bytes()
}

async fn send(app: &TestApp, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let mut req = app
        .client
        .post(app.url("/vapi/tools/list_providers"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A named request: its headers and body.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>);

fn now() -> i64 {
    gateway_tests::clock().now().as_second()
}

#[tokio::test]
async fn hmac_accepts_a_valid_signature_and_denies_everything_else() {
    let app = TestApp::spawn().await;
    let body = body();
    let ts = now().to_string();
    let sig = app.sign(&ts, &body);
    let (status, text) = send(
        &app,
        &[("x-timestamp", ts.clone()), ("x-signature", sig.clone())],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    // Milliseconds are accepted too.
    let ms = (now() * 1000).to_string();
    let (status, _) = send(
        &app,
        &[
            ("x-timestamp", ms.clone()),
            ("x-signature", app.sign(&ms, &body)),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 200);

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let stale = (now() - 3600).to_string();
    let future = (now() + 3600).to_string();
    let cases: Vec<Case> = vec![
        (
            "wrong signature",
            vec![("x-timestamp", ts.clone()), ("x-signature", "0".repeat(64))],
            body.clone(),
        ),
        (
            "tampered body",
            vec![("x-timestamp", ts.clone()), ("x-signature", sig.clone())],
            tampered,
        ),
        (
            "stale timestamp",
            vec![
                ("x-timestamp", stale.clone()),
                ("x-signature", app.sign(&stale, &body)),
            ],
            body.clone(),
        ),
        (
            "future timestamp",
            vec![
                ("x-timestamp", future.clone()),
                ("x-signature", app.sign(&future, &body)),
            ],
            body.clone(),
        ),
        (
            "missing signature",
            vec![("x-timestamp", ts.clone())],
            body.clone(),
        ),
        (
            "missing timestamp",
            vec![("x-signature", sig.clone())],
            body.clone(),
        ),
        (
            "bearer instead",
            vec![("authorization", format!("Bearer {}", app.secret))],
            body.clone(),
        ),
    ];
    let before = app.denials(None, 0).await;
    for (name, headers, body) in &cases {
        let (status, text) = send(&app, headers, body).await;
        assert_eq!(status, 401, "{name}");
        assert!(
            text.is_empty(),
            "{name}: no detail in the body, got {text:?}"
        );
    }
    assert_eq!(
        app.denials(None, before + cases.len() as u64).await - before,
        cases.len() as u64,
        "every denial is audited"
    );
    // No tool ran for them.
    let served = app
        .audit_entries()
        .iter()
        .filter(|e| e["resource"] == "list_providers")
        .count();
    assert_eq!(served, 2);
}

#[tokio::test]
async fn secret_header_mode() {
    let app = TestApp::spawn_with(&[("VAPI_AUTH_MODE", "secret")]).await;
    let body = body();
    let (status, _) = send(&app, &[("x-vapi-secret", app.secret.clone())], &body).await;
    assert_eq!(status, 200);
    let (status, text) = send(&app, &[("x-vapi-secret", "nope".into())], &body).await;
    assert_eq!((status, text.as_str()), (401, ""));
    let (status, _) = send(&app, &[], &body).await;
    assert_eq!(status, 401);
    assert_eq!(app.denials(None, 2).await, 2);
}

#[tokio::test]
async fn bearer_mode() {
    let app = TestApp::spawn_with(&[("VAPI_AUTH_MODE", "bearer")]).await;
    let body = body();
    let (status, _) = send(
        &app,
        &[("authorization", format!("Bearer {}", app.secret))],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = send(&app, &[("authorization", "Bearer wrong".into())], &body).await;
    assert_eq!(status, 401);
    let (status, _) = send(&app, &[("x-vapi-secret", app.secret.clone())], &body).await;
    assert_eq!(status, 401);
    assert_eq!(app.denials(None, 2).await, 2);
}

#[tokio::test]
async fn no_secret_configured_refuses_with_503_and_says_which_setting() {
    let app = TestApp::spawn_with(&[("VAPI_WEBHOOK_SECRET", "")]).await;
    let body = body();
    let ts = now().to_string();
    let (status, text) = send(
        &app,
        &[
            ("x-timestamp", ts.clone()),
            ("x-signature", app.sign(&ts, &body)),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 503);
    assert!(text.contains("VAPI_WEBHOOK_SECRET"), "{text}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status().as_u16(), 200);
}

#[tokio::test]
async fn custom_hmac_settings_are_honoured() {
    let app = TestApp::spawn_with(&[
        ("VAPI_SIGNATURE_HEADER", "x-vapi-signature"),
        ("VAPI_SIGNATURE_PREFIX", "sha256="),
        ("VAPI_PAYLOAD_FORMAT", "{body}"),
        ("VAPI_ALLOW_UNTIMED_SIGNATURES", "true"),
    ])
    .await;
    use hmac::{Hmac, Mac};
    let body = body();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(app.secret.as_bytes()).unwrap();
    mac.update(&body);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (status, _) = send(&app, &[("x-vapi-signature", sig)], &body).await;
    assert_eq!(status, 200);
    let (status, _) = send(&app, &[("x-vapi-signature", "sha256=00".into())], &body).await;
    assert_eq!(status, 401);
}

fn replay_denials(app: &TestApp) -> Vec<serde_json::Value> {
    app.audit_entries()
        .into_iter()
        .filter(|e| {
            e["outcome"] == "denied"
                && e["action"] == "authenticate"
                && e["reason"].as_str().is_some_and(|r| r.contains("replay"))
        })
        .collect()
}

#[tokio::test]
async fn a_signed_request_is_accepted_once_and_its_replay_refused_and_audited() {
    let app = TestApp::spawn().await;
    let body = TestApp::message(
        "list_providers",
        json!({}),
        &Caller::default(),
        &unique("tc"),
    )
    .to_string()
    .into_bytes();
    let ts = now().to_string();
    let headers = [
        ("x-timestamp", ts.clone()),
        ("x-signature", app.sign(&ts, &body)),
    ];
    let (status, text) = send(&app, &headers, &body).await;
    assert_eq!(status, 200, "{text}");
    // The same bytes and headers again, well inside the skew window: a replay.
    let (status, text) = send(&app, &headers, &body).await;
    assert_eq!((status, text.as_str()), (401, ""));
    assert_eq!(
        replay_denials(&app).len(),
        1,
        "the replay is audited as denied"
    );
    // Only one tool call ran.
    let served = app
        .audit_entries()
        .iter()
        .filter(|e| e["resource"] == "list_providers")
        .count();
    assert_eq!(served, 1);
    // The same body signed afresh (a new timestamp) is a new request.
    let ts = (now() * 1000 + 1).to_string();
    let (status, _) = send(
        &app,
        &[
            ("x-timestamp", ts.clone()),
            ("x-signature", app.sign(&ts, &body)),
        ],
        &body,
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_payload_format_without_a_timestamp_needs_an_opt_in_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let audit_dir = dir.path().to_owned();
    let refused = tokio::task::spawn_blocking(move || {
        std::process::Command::new(gateway_bin())
            .env_clear()
            .env("PORT", "0")
            .env("VAPI_WEBHOOK_SECRET", "s3cret-untimed")
            .env("VAPI_PAYLOAD_FORMAT", "{body}")
            .env("AUDIT_DIR", audit_dir)
            .output()
            .expect("run the gateway")
    })
    .await
    .unwrap();
    assert!(!refused.status.success(), "the gateway must not start");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("VAPI_PAYLOAD_FORMAT")
            && stderr.contains("VAPI_ALLOW_UNTIMED_SIGNATURES=true"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-untimed"), "{stderr}");

    let app = TestApp::spawn_with(&[
        ("VAPI_PAYLOAD_FORMAT", "{body}"),
        ("VAPI_ALLOW_UNTIMED_SIGNATURES", "true"),
    ])
    .await;
    let warned = app
        .output()
        .lines()
        .any(|l| l.contains("WARN") && l.contains("VAPI_ALLOW_UNTIMED_SIGNATURES"));
    assert!(warned, "{}", app.output());
}
