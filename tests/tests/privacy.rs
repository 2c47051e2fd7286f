//! Patient data never reaches a log line: the whole tool suite runs against a patient made of
//! canary values, at debug log level, and none of them may appear in the process's output.

use gateway_tests::{Caller, TestApp, fixture::*};
use serde_json::json;

const FIRST: &str = "Zephyrinette";
const LAST: &str = "Quillfeatherby";
const DOB: &str = "1977-07-19";
const PHONE: &str = "+16175550123";
const EMAIL: &str = "zq.canary@example.org";
const NEW_EMAIL: &str = "zq.moved@example.org";
const NEW_FIRST: &str = "Xanthippeor";

#[tokio::test]
async fn canary_patient_values_never_appear_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("canary.json");
    std::fs::write(&seed, json!([{"first_name": FIRST, "last_name": LAST, "birth_date": DOB, "phone": PHONE, "email": EMAIL}]).to_string()).unwrap();
    let app = TestApp::spawn_with(&[
        ("SANDBOX_EXTRA_PATIENTS", seed.to_str().unwrap()),
        ("RUST_LOG", "trace"),
    ])
    .await;

    let caller = Caller::from(PHONE);
    let identity = json!({"first_name": FIRST, "last_name": LAST, "date_of_birth": DOB});
    let who = app.tool("search_patients", json!({}), &caller).await.json();
    assert_eq!(
        who["first_name"], FIRST,
        "the canary patient is served: {who}"
    );
    app.tool("search_patients", identity.clone(), &Caller::default())
        .await
        .ok();
    app.tool(
        "get_patient_info",
        identity.clone(),
        &Caller::from("+14155550100"),
    )
    .await
    .ok();
    app.tool(
        "get_patient_info",
        json!({"first_name": FIRST, "last_name": LAST, "date_of_birth": "1977-07-20"}),
        &Caller::default(),
    )
    .await
    .err();
    let v = app
        .tool(
            "check_availability",
            json!({"date": light_day().to_string()}),
            &caller,
        )
        .await
        .json();
    let slot = &v["slots"][0];
    let booked = app
        .tool("book_appointment", json!({"date": light_day().to_string(), "time": slot["time"], "provider_id": slot["provider_id"], "reason": "canary toothache"}), &caller)
        .await;
    booked.ok();
    let appts = app
        .tool("get_appointments", json!({}), &caller)
        .await
        .json();
    let id = appts["appointments"][0]["appointment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.tool(
        "cancel_appointment",
        json!({"appointment_id": id, "reason": "canary reason"}),
        &caller,
    )
    .await
    .ok();
    app.tool(
        "update_patient",
        json!({"new_email": NEW_EMAIL, "preferred_name": NEW_FIRST}),
        &caller,
    )
    .await
    .ok();
    app.tool(
        "create_patient",
        json!({"first_name": FIRST, "last_name": LAST, "date_of_birth": DOB}),
        &caller,
    )
    .await
    .ok();
    app.tool("create_patient", json!({"first_name": NEW_FIRST, "last_name": LAST, "date_of_birth": DOB, "phone": PHONE, "email": "bad-email"}), &caller).await.err();
    app.tool(
        "book_appointment",
        json!({"date": "someday", "time": "09:00", "first_name": FIRST}),
        &caller,
    )
    .await
    .err();
    // A denied request with a canary in its body.
    let body = TestApp::message("search_patients", identity, &caller, "denied_call").to_string();
    let resp = app
        .client
        .post(app.url("/vapi/tools/search_patients"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);

    let (_, output, _) = app.terminate();
    assert!(
        output.lines().count() > 20,
        "the suite produced log output at trace level"
    );
    for canary in [
        FIRST,
        LAST,
        DOB,
        "6175550123",
        "617-555",
        EMAIL,
        NEW_EMAIL,
        NEW_FIRST,
        "canary toothache",
        "canary reason",
    ] {
        assert!(
            !output.contains(canary),
            "{canary:?} leaked into the output"
        );
    }
}
