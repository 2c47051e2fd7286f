//! Each fault of a Sikka-backed practice, through the route: the failing check's verdict and the
//! next step the operator is given. The emulator's knobs make each fault.

use std::time::Duration;

use gateway_tests::{Backend, Caller, cognito::UserPool, eventually, fixture};
use serde_json::{Value, json};

use crate::common::*;

/// The report once the emulator is set up by `fault`.
async fn report_with(fault: impl FnOnce(&gateway_tests::sikka::Knobs)) -> Value {
    let pool = UserPool::start().await;
    let app = gateway(Backend::Sikka, &pool, &[]).await;
    fault(sikka(&app).knobs());
    let (status, report) = health(&app, "acct_demo", Some(&pool)).await;
    assert_eq!(
        status, 200,
        "the report is the answer, also when checks fail: {report}"
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_has_not_synced_fails_in_both_spellings() {
    for status in ["not_refresh", "not refresh"] {
        let report = report_with(|k| k.set_sync_status(Some(status))).await;
        let (v, next) = verdict(&report, "sync_agent");
        assert_eq!(v, "failed", "{report}");
        assert!(
            next.contains("has not synced for over 24 hours")
                && next.contains("PC running the Sikka agent"),
            "{next}"
        );
        assert_eq!(report["verdict"], "failed");
        // The other checks still ran.
        assert_eq!(verdict(&report, "schedule").0, "ok", "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_spc_error_is_a_warning_with_its_description() {
    let report = report_with(|k| k.set_spc_error(Some("PMS database path not reachable"))).await;
    let (v, next) = verdict(&report, "sync_agent");
    assert_eq!(v, "warning", "{report}");
    assert!(
        check(&report, "sync_agent")["detail"]
            .as_str()
            .unwrap()
            .contains("PMS database path not reachable")
    );
    assert!(next.contains("PC running the Sikka agent"), "{next}");
    assert_eq!(report["verdict"], "warning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_sikka_does_not_list_fails() {
    let report = report_with(|k| k.set_office_unlisted(true)).await;
    let (v, next) = verdict(&report, "sync_agent");
    assert_eq!(v, "failed", "{report}");
    assert!(next.contains("office id"), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_support_endpoint_fails_with_sikkas_status() {
    let report = report_with(|k| k.set_path_failing("/v4/data_sync_status", true)).await;
    let (v, next) = verdict(&report, "sync_agent");
    assert_eq!(v, "failed", "{report}");
    let detail = check(&report, "sync_agent")["detail"].as_str().unwrap();
    assert!(detail.contains("503"), "{detail}");
    assert!(next.contains("Retry"), "{next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_that_cannot_be_read_fails() {
    let report = report_with(|k| k.set_path_failing("/v4/appointments", true)).await;
    let (v, next) = verdict(&report, "schedule");
    assert_eq!(v, "failed", "{report}");
    assert!(next.contains("Retry in a few minutes"), "{next}");
    assert_eq!(verdict(&report, "credentials").0, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_sikka_will_not_grant_fails_and_skips_the_schedule() {
    let report = report_with(|k| k.withdraw_office(gateway_tests::sikka::DEFAULT_OFFICE_ID)).await;
    let (v, next) = verdict(&report, "credentials");
    assert_eq!(v, "failed", "{report}");
    assert!(
        check(&report, "credentials")["detail"]
            .as_str()
            .unwrap()
            .contains("no request key could be had"),
        "{report}"
    );
    assert!(next.contains("authorize the application"), "{next}");
    let schedule = check(&report, "schedule");
    assert_eq!(schedule["verdict"], "skipped");
    assert!(schedule["detail"].as_str().unwrap().contains("credentials"));
}

/// Books the light day's first free slot for Olivia (verified by caller id): the answer.
async fn book(app: &gateway_tests::TestApp) -> gateway_tests::ToolAnswer {
    let caller = Caller::from(fixture::OLIVIA.phone);
    let day = fixture::light_day();
    let (time, provider) = app.first_free_slot(day).await;
    app.tool(
        "book_appointment",
        json!({"date": day.to_string(), "time": time, "provider_id": provider, "reason": "cleaning"}),
        &caller,
    )
    .await
}

async fn writebacks_when(pool: &UserPool, app: &gateway_tests::TestApp, wanted: &str) -> Value {
    eventually(Duration::from_secs(20), || async {
        let (_, report) = health(app, "acct_demo", Some(pool)).await;
        (check(&report, "writebacks")["verdict"] == wanted).then_some(report)
    })
    .await
    .unwrap_or_else(|| panic!("the writebacks check never became {wanted}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_pending_too_long_is_a_warning_and_an_applied_one_is_ok() {
    let pool = UserPool::start().await;
    let app = gateway(
        Backend::Sikka,
        &pool,
        &[
            ("DOCTOR_PENDING_WARN_SECONDS", "1"),
            ("BOOKING_CONFIRM_WAIT_MS", "200"),
        ],
    )
    .await;
    let knobs = sikka(&app).knobs();
    knobs.set_writeback_delay(Duration::from_secs(3600));
    let answer = book(&app).await;
    assert!(answer.ok().contains("pending"), "{answer:?}");
    let report = writebacks_when(&pool, &app, "warning").await;
    let c = check(&report, "writebacks");
    assert!(
        c["detail"].as_str().unwrap().contains("still pending"),
        "{c}"
    );
    assert!(
        c["next_step"].as_str().unwrap().contains("sync_agent"),
        "{c}"
    );
    assert!(!report.to_string().contains("Olivia"), "{report}");

    knobs.apply_writebacks_now();
    let report = writebacks_when(&pool, &app, "ok").await;
    let detail = check(&report, "writebacks")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("was applied"), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_a_warning() {
    let pool = UserPool::start().await;
    let app = gateway(Backend::Sikka, &pool, &[("BOOKING_CONFIRM_WAIT_MS", "200")]).await;
    sikka(&app)
        .knobs()
        .set_writebacks_fail(Some("Operatory is not available"));
    let refused = book(&app).await;
    assert!(refused.err().contains("did not accept"), "{refused:?}");
    let report = writebacks_when(&pool, &app, "warning").await;
    let c = check(&report, "writebacks");
    assert!(c["detail"].as_str().unwrap().contains("failed"), "{c}");
    assert!(c["next_step"].as_str().unwrap().contains("staff"), "{c}");
}
