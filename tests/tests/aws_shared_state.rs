//! Many tasks, one truth: two gateway processes on the `aws` profile share one moto (their
//! state table) and one Sikka emulator, as two ECS tasks behind one load balancer share
//! DynamoDB and the practice. A slot goes to one caller however the bookings are split; a
//! `toolCallId` is answered once whichever task its copies reach; a verification, a seen
//! signature, a pending write and a key refresh are each the same on both tasks; and without
//! DynamoDB, reads go on while writes are refused honestly.

use std::{sync::Arc, time::Duration};

use gateway::{
    clock::Clock,
    pms::sandbox::{SandboxConfig, SeedPatient, fixture},
};
use gateway_tests::{
    Caller, TestApp, ToolAnswer,
    aws_rig::{Rig, caller},
    eventually,
    fixture::OLIVIA,
    proxy::{Mode, Proxy},
    sikka::SikkaOptions,
    unique,
};
use jiff::civil::Date;
use serde_json::{Value, json};

/// The aws profile runs on the system clock: so do the emulator and these dates.
fn today() -> Date {
    SandboxConfig::practice_today(&Clock::system())
}

/// A weekday with free slots at the emulator's practice.
fn light_day() -> Date {
    fixture::light_day(today())
}

/// Fifty more patients, each with a mobile number of their own (callers verified by caller id).
fn callers(n: usize) -> Vec<SeedPatient> {
    (0..n)
        .map(|i| SeedPatient {
            first_name: format!("Caller{i}"),
            last_name: "Shared".into(),
            birth_date: jiff::civil::date(1980, 1, 1) + jiff::Span::new().days(i as i64),
            phone: Some(format!("+1415555{:04}", 2000 + i)),
            home_phone: None,
            work_phone: None,
            email: None,
        })
        .collect()
}

/// A rig with the Sikka practice `acct_a` on `pn_a` (onboarded) and two gateways on it.
async fn two_tasks(options: SikkaOptions, env: &[(&str, String)]) -> (Rig, TestApp, TestApp) {
    let clock = Clock::system();
    let rig = Rig::with(SikkaOptions { clock, ..options }).await;
    rig.sikka_practice(gateway_tests::fixture::TIME_ZONE).await;
    let a = rig.gateway_with(env).await;
    rig.onboard(&a).await;
    let b = rig.gateway_with(env).await;
    (rig, a, b)
}

fn options() -> SikkaOptions {
    SikkaOptions::for_today(today())
}

fn booked(answer: &ToolAnswer) -> bool {
    answer
        .result
        .as_deref()
        .is_some_and(|r| r.starts_with("Booked") || r.starts_with("Sent to the practice"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_bookings_of_one_slot_split_across_two_tasks_confirm_exactly_one() {
    let people = callers(50);
    // Fifty bookings are more requests than Sikka's 250 a minute: the race is the point here.
    let options = SikkaOptions {
        extra_patients: people.clone(),
        rate_limit_per_minute: 100_000,
        ..options()
    };
    // moto answers fifty transactions at once slowly on a loaded test machine (DynamoDB in
    // milliseconds): the calls get the time to be answered, so the answers are the race's.
    let env = [
        ("SIKKA_REQUESTS_PER_MINUTE", "60000".to_owned()),
        ("STATE_TIMEOUT_MS", "20000".to_owned()),
        ("TOOL_BUDGET_MS", "25000".to_owned()),
        ("REQUEST_BUDGET_MS", "28000".to_owned()),
    ];
    let (rig, a, b) = two_tasks(options, &env).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let day = light_day();
    let (time, provider) = Rig::free_slot(&a, day).await;
    let before = rig.sikka.knobs().counters().writebacks_accepted;
    let calls: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(i, person)| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            let who = caller(person.phone.as_deref().unwrap());
            let args = json!({"date": day.to_string(), "time": time, "provider_id": provider});
            tokio::spawn(async move { app.tool("book_appointment", args, &who).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    let winners: Vec<&ToolAnswer> = answers.iter().filter(|a| booked(a)).collect();
    assert_eq!(winners.len(), 1, "exactly one caller booked: {answers:#?}");
    let outputs = format!("{}\n{}", a.output(), b.output());
    let state_failures: Vec<&str> = (outputs.lines())
        .filter(|l| l.contains("shared state"))
        .collect();
    for lost in answers.iter().filter(|a| !booked(a)) {
        let words = lost.err();
        assert!(
            words.contains("was just taken") || words.contains("is not available"),
            "told the slot is gone: {words}; {state_failures:#?}"
        );
        assert!(
            words.contains("Open times that day") || words.contains("next openings"),
            "offered other times: {words}"
        );
    }
    assert_eq!(
        rig.sikka.knobs().counters().writebacks_accepted - before,
        1,
        "one appointment was written to the practice's system"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_id_sent_to_one_task_then_the_other_writes_once_and_answers_alike() {
    let (rig, a, b) = two_tasks(options(), &[]).await;
    let day = light_day();
    let (time, provider) = Rig::free_slot(&a, day).await;
    let olivia = caller(OLIVIA.phone);
    let args = json!({"date": day.to_string(), "time": time, "provider_id": provider});
    let id = unique("tc");
    let first = a
        .tool_with_id("book_appointment", args.clone(), &olivia, &id)
        .await;
    assert!(booked(&first), "{first:?}");
    let again = b.tool_with_id("book_appointment", args, &olivia, &id).await;
    assert_eq!(
        again.result, first.result,
        "the same answer from the other task"
    );
    assert_eq!(again.error, first.error);
    assert_eq!(
        rig.sikka.knobs().counters().writebacks_accepted,
        1,
        "one write to the practice's system"
    );
    let repeated = b.audit_entries().into_iter().any(|e| {
        e["resource"] == "book_appointment"
            && e["reason"]
                .as_str()
                .is_some_and(|r| r.contains("repeated toolCallId"))
    });
    assert!(repeated, "task B audited the repeat as a repeat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_verified_on_one_task_is_verified_on_the_other_in_that_call_only() {
    let (rig, a, b) = two_tasks(options(), &[]).await;
    // A second practice (a sandbox) on another line.
    rig.practice(&[
        "--account",
        "acct_b",
        "--name",
        "Other Dental",
        "--time-zone",
        gateway_tests::fixture::TIME_ZONE,
        "--phone-number-id",
        "pn_b",
        "--pms",
        "sandbox",
    ])
    .await;
    // From a number not on file: verified by name and date of birth on task A.
    let call = caller("+14155550000");
    let identity = json!({"first_name": OLIVIA.first, "last_name": OLIVIA.last,
                          "date_of_birth": OLIVIA.dob});
    let verified = a.tool("get_appointments", identity, &call).await.json();
    assert_eq!(verified["patient_id"], OLIVIA.id, "{verified}");
    // Later in the same call, task B knows who the caller is.
    let later = b.tool("get_appointments", json!({}), &call).await.json();
    assert_eq!(later["patient_id"], OLIVIA.id, "{later}");
    // Another call from the same number is a stranger.
    let other_call = caller("+14155550000");
    let stranger = b.tool("get_appointments", json!({}), &other_call).await;
    assert!(stranger.err().contains("not verified"), "{stranger:?}");
    // So is the same call id at another practice (once B has loaded it).
    let elsewhere = Caller {
        call_id: call.call_id.clone(),
        ..Caller {
            number: Some("+14155550000".into()),
            ..Caller::at("acct_b", "pn_b")
        }
    };
    let there = eventually(Duration::from_secs(15), || async {
        let answer = b.tool("get_appointments", json!({}), &elsewhere).await;
        let loaded = !answer.err().contains("not set up");
        loaded.then_some(answer)
    })
    .await
    .expect("task B loads the second practice");
    assert!(there.err().contains("not verified"), "{there:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_accepted_by_one_task_is_a_replay_on_the_other() {
    let (_rig, a, b) = two_tasks(options(), &[]).await;
    let body = serde_json::to_vec(&TestApp::message(
        "list_providers",
        json!({}),
        &caller(OLIVIA.phone),
        &unique("tc"),
    ))
    .unwrap();
    let ts = gateway_tests::fresh_timestamp();
    let signature = a.sign(&ts, &body);
    let send = |app: &TestApp| {
        app.client
            .post(app.url("/vapi/tools/list_providers"))
            .header("content-type", "application/json")
            .header("x-timestamp", &ts)
            .header("x-signature", &signature)
            .body(body.clone())
            .send()
    };
    assert_eq!(send(&a).await.unwrap().status().as_u16(), 200);
    assert_eq!(
        send(&b).await.unwrap().status().as_u16(),
        401,
        "the replay to the other task is refused"
    );
    let denied = b.audit_entries().into_iter().any(|e| {
        e["outcome"] == "denied" && e["reason"].as_str().is_some_and(|r| r.contains("replay"))
    });
    assert!(denied, "task B audited the replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_write_of_a_killed_task_is_settled_and_audited_by_the_other() {
    let env = [("BOOKING_CONFIRM_WAIT_MS", "300".to_owned())];
    let (rig, a, b) = two_tasks(options(), &env).await;
    let day = light_day();
    let (time, provider) = Rig::free_slot(&a, day).await;
    let knobs = rig.sikka.knobs().clone();
    knobs.set_writeback_delay(Duration::from_secs(3600));
    let answer = a
        .tool(
            "book_appointment",
            json!({"date": day.to_string(), "time": time, "provider_id": provider}),
            &caller(OLIVIA.phone),
        )
        .await;
    assert!(answer.ok().contains("not confirmed yet"), "{answer:?}");
    let _ = a.kill();
    knobs.apply_writebacks_now();
    let settled = eventually(Duration::from_secs(30), || async {
        b.audit_entries().into_iter().find(|e| {
            e["resource"] == "book_appointment"
                && e["outcome"] == "success"
                && e["reason"].as_str().is_some_and(|r| r.contains("settled"))
        })
    })
    .await
    .expect("task B settled task A's pending booking");
    assert_eq!(settled["account_id"], "acct_a");
    assert_eq!(settled["patient_ids"], json!([OLIVIA.id]));
    // And the booking's answer on B now repeats it as confirmed.
    let mine = b
        .tool("get_appointments", json!({}), &caller(OLIVIA.phone))
        .await
        .json();
    let shown = mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["date"] == day.to_string() && a["time"] == time.as_str());
    assert!(shown, "{mine}");
    assert_eq!(mine["pending_requests"], json!([]), "{mine}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_calls_on_an_expired_key_across_two_tasks_refresh_it_once() {
    let env = [("SIKKA_REQUESTS_PER_MINUTE", "60000".to_owned())];
    let (rig, a, b) = two_tasks(options(), &env).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let knobs = rig.sikka.knobs().clone();
    // Both tasks hold the practice's key (the second read it from Secrets Manager).
    for app in [&a, &b] {
        app.tool("list_providers", json!({}), &caller(OLIVIA.phone))
            .await
            .ok();
    }
    let grants = || knobs.refresh_grants() + knobs.request_key_grants();
    let before = grants();
    knobs.expire_request_keys();
    let day = light_day().to_string();
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            let day = day.clone();
            tokio::spawn(async move {
                app.tool(
                    "check_availability",
                    json!({"date": day}),
                    &caller("+14155559999"),
                )
                .await
            })
        })
        .collect();
    for call in calls {
        let answer = call.await.unwrap();
        assert!(answer.ok().contains("slots"), "{answer:?}");
    }
    assert_eq!(grants() - before, 1, "one refresh for both tasks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_dynamodb_availability_answers_and_a_booking_is_refused_honestly() {
    let rig = Rig::with(SikkaOptions {
        clock: Clock::system(),
        ..options()
    })
    .await;
    rig.sikka_practice(gateway_tests::fixture::TIME_ZONE).await;
    let dynamodb = Proxy::start(rig.moto.endpoint.trim_start_matches("http://")).await;
    let app = rig
        .gateway_with(&[("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.endpoint.clone())])
        .await;
    rig.onboard(&app).await;
    let day = light_day();
    let (time, provider) = Rig::free_slot(&app, day).await;

    dynamodb.set(Mode::Refuse);
    let offered = app
        .tool(
            "check_availability",
            json!({"date": day.to_string()}),
            &caller("+14155559999"),
        )
        .await
        .json();
    assert!(
        !offered["slots"].as_array().unwrap().is_empty(),
        "{offered}"
    );
    let before = rig.sikka.knobs().counters().writebacks_accepted;
    let refused = app
        .tool(
            "book_appointment",
            json!({"date": day.to_string(), "time": time, "provider_id": provider}),
            &caller(OLIVIA.phone),
        )
        .await;
    assert!(
        refused.err().contains("booking records are unavailable")
            && refused.err().contains("nothing was changed"),
        "{refused:?}"
    );
    assert_eq!(
        rig.sikka.knobs().counters().writebacks_accepted,
        before,
        "nothing was written to the practice's system"
    );
    // The failure is counted in the metrics.
    let counted = eventually(Duration::from_secs(10), || async {
        app.output().lines().find_map(|line| {
            let doc: Value = serde_json::from_str(line).ok()?;
            (doc["StateErrors"].as_f64()? > 0.0).then_some(())
        })
    })
    .await;
    assert!(counted.is_some(), "StateErrors reported");
}
