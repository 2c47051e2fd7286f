//! Texts on the `aws` profile: two gateway tasks on one moto (their state table), one Sikka
//! emulator and one Twilio emulator. A consent given on one task is followed on the other, a
//! STOP received by one holds on both, a message taken on one is listed by the other and texted
//! to the staff number `cargo xtask practice add --staff-sms-number` stored, and texts are
//! counted in the metrics.

use std::time::Duration;

use gateway::{
    clock::Clock,
    pms::sandbox::{SandboxConfig, fixture},
};
use gateway_tests::{
    TestApp,
    aws_rig::{Rig, caller},
    eventually,
    fixture::OLIVIA,
    sikka::SikkaOptions,
    twilio::Twilio,
};
use serde_json::{Value, json};

const STAFF: &str = "+15105550177";

async fn book(app: &TestApp, day: jiff::civil::Date) -> String {
    let offered = app
        .tool(
            "check_availability",
            json!({"date": day.to_string(), "max_results": 20}),
            &caller("+14155559999"),
        )
        .await
        .json();
    let slot = &offered["slots"][0];
    let args =
        json!({"date": day.to_string(), "time": slot["time"], "provider_id": slot["provider_id"]});
    app.tool("book_appointment", args, &caller(OLIVIA.phone))
        .await
        .ok()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_opt_outs_and_messages_are_shared_by_every_task() {
    let clock = Clock::system();
    let today = SandboxConfig::practice_today(&clock);
    let rig = Rig::with(SikkaOptions {
        clock,
        ..SikkaOptions::for_today(today)
    })
    .await;
    let staff = ["--staff-sms-number", "(510) 555-0177"];
    rig.sikka_practice_with(gateway_tests::fixture::TIME_ZONE, &staff)
        .await;
    let twilio = Twilio::start().await;
    let env: Vec<(&str, String)> = twilio.env();
    let a = rig.gateway_with(&env).await;
    rig.onboard(&a).await;
    let b = rig.gateway_with(&env).await;

    // Agreed on A, booked on B: B texts the confirmation.
    let consent = a
        .tool("record_sms_consent", json!({}), &caller(OLIVIA.phone))
        .await;
    assert!(consent.ok().contains("Recorded"), "{consent:?}");
    let answer = book(&b, fixture::light_day(today)).await;
    assert!(answer.contains("confirmation text"), "{answer}");
    let sent = twilio.wait_for(1).await;
    assert_eq!(sent[0].to, OLIVIA.phone);

    // STOP reaches B; A follows it.
    let stop = twilio
        .send_inbound(&b.url("/twilio/inbound"), OLIVIA.phone, "STOP")
        .await;
    assert_eq!(stop.status().as_u16(), 200);
    let again = a
        .tool("record_sms_consent", json!({}), &caller(OLIVIA.phone))
        .await;
    assert!(again.ok().contains("replied STOP"), "{again:?}");

    // A message taken on A is texted to the staff and listed by B.
    let taken = a
        .tool(
            "take_message",
            json!({"caller_name": "Olivia Bennett", "reason": "Billing question"}),
            &caller(OLIVIA.phone),
        )
        .await;
    assert!(taken.ok().contains("recorded"), "{taken:?}");
    let sent = twilio.wait_for(2).await;
    assert_eq!(sent[1].to, STAFF);
    let listed = eventually(Duration::from_secs(10), || async {
        let token = rig.pool.token(Clock::system().now().as_second());
        let body: Value = b
            .client
            .get(b.url("/practices/acct_a/messages"))
            .bearer_auth(token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let m = body["messages"].as_array()?.first()?.clone();
        m.get("texted_sid").is_some().then_some(m)
    })
    .await
    .expect("B lists A's message, texted");
    assert_eq!(listed["reason"], "Billing question");
    assert_eq!(listed["texted_sid"], sent[1].sid.as_str());

    // Texts are counted in the metrics.
    let counted = eventually(Duration::from_secs(10), || async {
        let all = format!("{}{}", a.output(), b.output());
        all.lines().find_map(|line| {
            let doc: Value = serde_json::from_str(line).ok()?;
            (doc["SmsSent"].as_f64()? > 0.0).then_some(())
        })
    })
    .await;
    assert!(counted.is_some(), "SmsSent reported");
}
