//! `transfer_to_human` and Vapi's `transferCall` destination: transferred through the call's
//! control URL within the practice's hours, or the precise reason why not.

use gateway_tests::{
    Backend, Caller, TestApp, both,
    fixture::{self, PRACTICE_NAME, TRANSFER_NUMBER},
    unique,
};
use serde_json::{Value, json};

use crate::common::*;

async fn a_transfer_posts_the_front_desk_to_the_calls_control_url(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let (app, _dir) = spawn(backend, false, &[]).await;
    let answer = transfer_as(
        &app,
        json!({"reason": "billing question"}),
        &Caller::default(),
        Some(&endpoint.url),
    )
    .await
    .expect("transferred");
    assert!(answer.contains("being transferred"), "{answer}");
    assert_eq!(
        endpoint.bodies(),
        [json!({
            "type": "transfer",
            "destination": {"type": "number", "number": TRANSFER_NUMBER},
            "content": format!("Connecting you to the front desk at {PRACTICE_NAME} now."),
        })]
    );
    let audited = entries(&app, "transfer_to_human");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["outcome"], "success");
    assert_eq!(audited[0]["reason"], "transferred to the front desk");
    assert!(
        !audited[0].to_string().contains("billing"),
        "{}",
        audited[0]
    );
}

async fn without_a_control_url_the_answer_says_so_and_offers_a_message(backend: Backend) {
    let (app, _dir) = spawn(backend, false, &[]).await;
    let err = transfer(&app, None).await.expect_err("not transferred");
    assert!(
        err.contains("no live call control") && err.contains("take_message"),
        "{err}"
    );
    let audited = entries(&app, "transfer_to_human");
    assert_eq!(
        (
            audited[0]["outcome"].as_str(),
            audited[0]["reason"].as_str()
        ),
        (Some("failed"), Some("no control URL"))
    );
}

async fn a_failing_or_foreign_control_endpoint_is_reported_precisely(backend: Backend) {
    let failing = ControlEndpoint::start(500).await;
    let (app, _dir) = spawn(backend, false, &[]).await;
    let caller = Caller::default();
    let err = transfer_as(&app, json!({}), &caller, Some(&failing.url))
        .await
        .expect_err("refused");
    assert!(
        err.contains("refused the transfer (HTTP 500)") && err.contains("take_message"),
        "{err}"
    );
    assert_eq!(failing.bodies().len(), 1);

    // Nobody listening: a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}/call_1/control", closed.local_addr().unwrap());
    drop(closed);
    let err = transfer_as(&app, json!({}), &caller, Some(&silent))
        .await
        .expect_err("unreachable");
    assert!(
        err.contains("did not answer") && err.contains("take_message"),
        "{err}"
    );

    // A URL that is not Vapi's (an internal address) is never called.
    for foreign in [
        "https://169.254.169.254/latest/meta-data",
        "https://control.example.com/x",
    ] {
        let err = transfer_as(&app, json!({}), &caller, Some(foreign))
            .await
            .expect_err("refused");
        assert!(err.contains("not a Vapi address"), "{err}");
    }
    let reasons: Vec<String> = entries(&app, "transfer_to_human")
        .iter()
        .map(|e| format!("{} {}", e["outcome"], e["reason"]))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.starts_with("\"failed\"")),
        "{reasons:?}"
    );
}

async fn without_the_loopback_setting_a_plain_http_control_url_is_not_called(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let (app, _dir) = spawn(
        backend,
        false,
        &[("VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK", "false".into())],
    )
    .await;
    let err = transfer(&app, Some(&endpoint.url))
        .await
        .expect_err("refused");
    assert!(err.contains("not a Vapi address"), "{err}");
    assert!(endpoint.bodies().is_empty());
}

async fn without_a_transfer_number_the_answer_is_precise(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let files = tempfile::tempdir().unwrap();
    let practices = files.path().join("practices.json");
    let entry = |pms: Value| {
        json!({"practices": [{"account_id": "acct_demo", "name": PRACTICE_NAME,
            "time_zone": fixture::TIME_ZONE, "phone_number_ids": ["pn_demo"], "pms": pms}]})
    };
    std::fs::write(&practices, entry(json!({"kind": "sandbox"})).to_string()).unwrap();
    let path = practices.display().to_string();
    let env = [
        ("PRACTICES_FILE", path.as_str()),
        ("VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK", "true"),
    ];
    // On Sikka the practice stays bound to the emulator, only without a transfer number.
    let app = TestApp::spawn_on_adjusted(backend, &env, |o| {
        let pms = json!({"kind": "sikka", "office_id": o.office_id, "practice_id": o.practice_id, "pms_type": o.pms});
        std::fs::write(&practices, entry(pms).to_string()).unwrap();
    })
    .await;
    let err = transfer(&app, Some(&endpoint.url))
        .await
        .expect_err("no number");
    assert!(
        err.contains("has no transfer number set up") && err.contains("take a message"),
        "{err}"
    );
    assert!(endpoint.bodies().is_empty());
    let audited = entries(&app, "transfer_to_human");
    assert_eq!(audited[0]["reason"], "no transfer number configured");
}

async fn outside_office_hours_a_message_is_offered_instead(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let (app, _dir) = spawn(backend, true, &[]).await;
    let err = transfer(&app, Some(&endpoint.url))
        .await
        .expect_err("closed");
    assert!(
        err.contains("is closed now")
            && err.contains(&format!("opens again {}", tomorrow_at_nine()))
            && err.contains("take_message"),
        "{err}"
    );
    assert!(endpoint.bodies().is_empty(), "nobody to transfer to");
    assert_eq!(
        entries(&app, "transfer_to_human")[0]["reason"],
        "outside office hours"
    );
}

/// Asks the webhook where to transfer a call to the demo practice.
async fn ask(app: &TestApp) -> Value {
    let body = json!({"message": {"type": "transfer-destination-request",
        "call": {"id": unique("call"), "phoneNumberId": "pn_demo"}}});
    let resp = app
        .post_signed("/vapi/webhook", body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

/// Vapi's `transferCall` tool asks the webhook where to: the front desk while open, an error
/// offering a message while closed.
async fn the_transfer_call_tools_destination_is_the_front_desk_within_hours_only(backend: Backend) {
    let (open, _dir) = spawn(backend, false, &[]).await;
    let v = ask(&open).await;
    assert_eq!(
        v["destination"],
        json!({"type": "number", "number": TRANSFER_NUMBER}),
        "{v}"
    );
    let (closed, _dir) = spawn(backend, true, &[]).await;
    let v = ask(&closed).await;
    assert!(v.get("destination").is_none(), "{v}");
    let error = v["error"].as_str().expect("an error");
    assert!(
        error.contains("closed now")
            && error.contains(&format!("opens again {}", tomorrow_at_nine()))
            && error.contains("take_message"),
        "{error}"
    );
}

both!(
    a_transfer_posts_the_front_desk_to_the_calls_control_url,
    without_a_control_url_the_answer_says_so_and_offers_a_message,
    a_failing_or_foreign_control_endpoint_is_reported_precisely,
    without_the_loopback_setting_a_plain_http_control_url_is_not_called,
    without_a_transfer_number_the_answer_is_precise,
    outside_office_hours_a_message_is_offered_instead,
    the_transfer_call_tools_destination_is_the_front_desk_within_hours_only,
);
