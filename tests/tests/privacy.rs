//! Patient data never reaches a log line: the whole tool suite runs against a patient made of
//! canary values, at trace log level, on both backends (the sandbox, and the Sikka adapter in
//! front of the Sikka emulator), and none of them may appear in the process's output or in the
//! audit trail.

use gateway_tests::{Backend, Caller, TestApp, both, fixture::*};
use serde_json::json;

const FIRST: &str = "Zephyrinette";
const LAST: &str = "Quillfeatherby";
const DOB: &str = "1977-07-19";
const PHONE: &str = "+16175550123";
const EMAIL: &str = "zq.canary@example.org";
const NEW_EMAIL: &str = "zq.moved@example.org";
const NEW_FIRST: &str = "Xanthippeor";

async fn canary_patient_values_never_appear_in_the_output(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("canary.json");
    std::fs::write(&seed, json!([{"first_name": FIRST, "last_name": LAST, "birth_date": DOB, "phone": PHONE, "email": EMAIL}]).to_string()).unwrap();
    let env = [
        ("SANDBOX_EXTRA_PATIENTS", seed.to_str().unwrap()),
        ("RUST_LOG", "trace"),
    ];
    // A PMS that takes patient edits through Sikka, so the edits reach Sikka too.
    let app = TestApp::spawn_on_adjusted(backend, &env, |o| o.pms = "Orthotrac".into()).await;

    let caller = Caller::from(PHONE);
    let identity = json!({"first_name": FIRST, "last_name": LAST, "date_of_birth": DOB});
    let who = app.tool("search_patients", json!({}), &caller).await.json();
    assert_eq!(
        who["first_name"], FIRST,
        "the canary patient is served: {who}"
    );
    let patient_id = who["patient_id"].as_str().expect("a patient id").to_owned();
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
    let updated = app
        .tool(
            "update_patient",
            json!({"new_email": NEW_EMAIL, "preferred_name": NEW_FIRST}),
            &caller,
        )
        .await;
    if backend == Backend::Sikka {
        // Sikka's patient edit takes no email (the assistant is told so); the preferred name
        // alone goes through to Sikka.
        assert!(updated.err().contains("does not support"), "{updated:?}");
        app.tool(
            "update_patient",
            json!({"preferred_name": NEW_FIRST}),
            &caller,
        )
        .await
        .ok();
    } else {
        updated.ok();
    }
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

    if let Some(sikka) = &app.sikka {
        let seen = sikka.knobs().counters();
        assert!(seen.requests_to("/v4/patients") > 0, "Sikka was searched");
        assert!(
            seen.requests_to(&format!("/v4/patient/{patient_id}")) > 0,
            "the patient edit reached Sikka"
        );
    }
    let (_, output, audit_dir) = app.terminate();
    let audit = std::fs::read_to_string(audit_dir.path().join("audit.jsonl")).unwrap();
    assert!(
        audit.contains(&format!("\"patient_ids\":[\"{patient_id}\"]")),
        "the canary patient's accesses were audited, by id"
    );
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
        // The audit names who called by their number (the actor), never what they said.
        if !canary.contains("617") {
            assert!(
                !audit.contains(canary),
                "{canary:?} leaked into the audit trail"
            );
        }
    }
}

both!(canary_patient_values_never_appear_in_the_output);
