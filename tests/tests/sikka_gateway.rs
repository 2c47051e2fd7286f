//! The gateway in front of the Sikka emulator when Sikka misbehaves the ways it documents: a
//! request key that expires mid-call (and a hundred calls waiting on one refresh), a 429 with
//! its reset (and an absurd reset), an offline sync agent, a writeback that fails, one still
//! pending when the caller's answer is due — settled afterwards in the background, by one poller
//! per practice within a share of its Sikka budget — and a booking whose answer was lost. Also:
//! a booking Sikka refuses as a clash with the same patient's booking at that time is that
//! booking, and an unproven secret sent to the authorize webhook never revokes working
//! credentials.

use std::{sync::Arc, time::Duration};

use gateway_tests::{Backend, Caller, TestApp, fixture::*, sikka::Knobs};
use serde_json::json;

fn knobs(app: &TestApp) -> Knobs {
    app.sikka
        .as_ref()
        .expect("a Sikka-backed gateway")
        .knobs()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refreshed_once_for_a_hundred_waiting_calls() {
    let app = Arc::new(
        TestApp::spawn_on(Backend::Sikka, &[("SIKKA_REQUESTS_PER_MINUTE", "60000")]).await,
    );
    let knobs = knobs(&app);
    // Warm up: the first call obtains a request key.
    app.tool("list_providers", json!({}), &Caller::default())
        .await
        .ok();
    assert_eq!(knobs.request_key_grants(), 1);
    knobs.expire_request_keys();
    let before = knobs.refresh_grants() + knobs.request_key_grants();
    let day = light_day().to_string();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let app = app.clone();
            let day = day.clone();
            tokio::spawn(async move {
                app.tool(
                    "check_availability",
                    json!({"date": day}),
                    &Caller::default(),
                )
                .await
            })
        })
        .collect();
    for call in calls {
        let answer = call.await.unwrap();
        assert!(answer.ok().contains("slots"), "{answer:?}");
    }
    let after = knobs.refresh_grants() + knobs.request_key_grants();
    assert_eq!(
        after - before,
        1,
        "exactly one refresh for every waiting call"
    );
    assert_eq!(
        knobs.refresh_grants(),
        1,
        "the refresh grant, not a new request key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_waited_out_within_the_budget() {
    let app = TestApp::spawn_on(Backend::Sikka, &[]).await;
    app.tool("list_providers", json!({}), &Caller::default())
        .await
        .ok();
    knobs(&app).throttle_next(1, 1);
    let started = std::time::Instant::now();
    let v = app
        .tool("get_appointments", json!({}), &Caller::from(OLIVIA.phone))
        .await
        .json();
    assert_eq!(v["patient_id"], OLIVIA.id);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for the reset"
    );
}

/// A reset of centuries (or a typo) is a bounded pause and an honest answer, never a crash of
/// the call or the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_rate_limit_reset_is_an_honest_answer_not_a_crash() {
    let app = TestApp::spawn_on(Backend::Sikka, &[]).await;
    app.tool("list_providers", json!({}), &Caller::default())
        .await
        .ok();
    knobs(&app).throttle_next(1, u64::MAX);
    let started = std::time::Instant::now();
    let answer = app
        .tool("get_appointments", json!({}), &Caller::from(OLIVIA.phone))
        .await;
    assert!(
        answer.err().contains("not answering right now"),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered within the call's budget"
    );
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200, "the gateway is still up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_agent_means_no_booking_and_an_honest_answer() {
    let app = TestApp::spawn_on(Backend::Sikka, &[]).await;
    let (time, provider) = app.first_free_slot(light_day()).await;
    knobs(&app).set_agent_online(false);
    let e = app
        .tool(
            "book_appointment",
            json!({"date": light_day().to_string(), "time": time, "provider_id": provider}),
            &Caller::from(OLIVIA.phone),
        )
        .await;
    assert!(e.err().contains("offline"), "{e:?}");
    assert_eq!(knobs(&app).pending_writebacks(), 0, "nothing was queued");
    let entry = app
        .audit_entries()
        .into_iter()
        .rfind(|e| e["resource"] == "book_appointment")
        .unwrap();
    assert_eq!(entry["outcome"], "failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writeback_the_practice_refuses_is_reported_failed_and_frees_the_slot() {
    let app = TestApp::spawn_on(Backend::Sikka, &[]).await;
    let day = light_day();
    let (time, provider) = app.first_free_slot(day).await;
    knobs(&app).set_writebacks_fail(Some("Operatory is locked"));
    let e = app
        .tool(
            "book_appointment",
            json!({"date": day.to_string(), "time": time, "provider_id": provider}),
            &Caller::from(OLIVIA.phone),
        )
        .await;
    assert!(
        e.err().contains("did not accept") && e.err().contains("Operatory is locked"),
        "{e:?}"
    );
    let again = app
        .tool(
            "check_availability",
            json!({"date": day.to_string(), "max_results": 20}),
            &Caller::default(),
        )
        .await
        .json();
    assert!(
        again["slots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["time"] == time.as_str() && s["provider_id"] == provider.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writeback_pending_at_the_budget_is_settled_in_the_background() {
    let app = TestApp::spawn_on(
        Backend::Sikka,
        &[
            ("SANDBOX_WRITE_DELAY_MS", "2500"),
            ("BOOKING_CONFIRM_WAIT_MS", "300"),
        ],
    )
    .await;
    let day = light_day();
    let (time, provider) = app.first_free_slot(day).await;
    let answer = app
        .tool(
            "book_appointment",
            json!({"date": day.to_string(), "time": time, "provider_id": provider}),
            &Caller::from(OLIVIA.phone),
        )
        .await;
    assert!(answer.ok().contains("not confirmed yet"), "{answer:?}");
    // The gateway keeps polling; the settlement is audited once the practice applies it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let settled = app.audit_entries().into_iter().any(|e| {
            e["resource"] == "book_appointment"
                && e["outcome"] == "success"
                && e["reason"].as_str().is_some_and(|r| r.contains("settled"))
        });
        if settled {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pending booking was never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mine = app
        .tool("get_appointments", json!({}), &Caller::from(OLIVIA.phone))
        .await
        .json();
    assert!(
        mine["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["date"] == day.to_string() && a["time"] == time.as_str()),
        "{mine}"
    );
}

/// Writes left pending after their calls are settled by one poller per practice, at a share of
/// the practice's Sikka budget (a tenth: here 60 of 600 requests a minute, one a second),
/// however many are pending — not by one loop per write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_writebacks_cost_a_bounded_share_of_the_sikka_budget() {
    let app = TestApp::spawn_on(
        Backend::Sikka,
        &[
            ("SIKKA_REQUESTS_PER_MINUTE", "600"),
            ("BOOKING_CONFIRM_WAIT_MS", "100"),
            ("SANDBOX_WRITE_DELAY_MS", "600000"),
        ],
    )
    .await;
    let knobs = knobs(&app);
    let pending = 12;
    for n in 0..pending {
        let made = app
            .tool(
                "create_patient",
                json!({"first_name": "Pat", "last_name": format!("Pending{}", char::from(b'a' + n)), "date_of_birth": "1990-02-03"}),
                &Caller::from(&format!("+14155550{}", 300 + u32::from(n))),
            )
            .await;
        assert!(made.ok().contains("pending"), "{made:?}");
    }
    assert_eq!(knobs.pending_writebacks(), pending as usize);
    knobs.reset_counters();
    // An observation window, not a synchronisation: how many status questions in 5 s.
    let window = Duration::from_secs(5);
    tokio::time::sleep(window).await;
    let asked = knobs.requests_to("/v4/writeback_status");
    assert!(
        (1..=7).contains(&asked),
        "{asked} writeback questions in {window:?} for {pending} pending writes (the share allows 5)"
    );
}

/// An authorize webhook (with the right callback key) carrying a secret that Sikka refuses —
/// answered `API2007` by this Sikka — proves nothing: the practice's working credentials are
/// not marked revoked, and its calls go on being answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unproven_secret_never_revokes_working_credentials() {
    use gateway_tests::sikka::{DEFAULT_APP_ID, DEFAULT_OFFICE_ID};
    let app = TestApp::spawn_on(Backend::Sikka, &[("SIKKA_CALLBACK_KEY", "cb-key-1")]).await;
    let before = app
        .tool("get_appointments", json!({}), &Caller::from(OLIVIA.phone))
        .await
        .json();
    assert_eq!(before["patient_id"], OLIVIA.id);
    let resp = app
        .client
        .post(app.url("/pms/sikka/webhook/authorize"))
        .header("callback-key", "cb-key-1")
        .json(&json!({"event": "app.authorized", "app_id": DEFAULT_APP_ID, "office_id": DEFAULT_OFFICE_ID,
                      "secret_key": "not-the-practice-secret", "practice_id": 1, "pms_type": "Dentrix"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());
    let after = app
        .tool("get_appointments", json!({}), &Caller::from(OLIVIA.phone))
        .await;
    assert_eq!(after.json()["patient_id"], OLIVIA.id, "{after:?}");
}

/// Sikka takes a booking but its answer is lost (the connection drops before it comes). The
/// caller is told it is pending, not that the system failed; the assistant's retry sends no
/// second booking (which the practice's system would refuse as a clash with the first and the
/// caller would hear "nothing was changed"); once applied, it is found and confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_answer_was_lost_is_pending_and_never_sent_twice() {
    let app = TestApp::spawn_on(
        Backend::Sikka,
        &[
            ("TOOL_BUDGET_MS", "3000"),
            ("BOOKING_CONFIRM_WAIT_MS", "300"),
            ("SANDBOX_WRITE_DELAY_MS", "600000"),
        ],
    )
    .await;
    let knobs = knobs(&app);
    let caller = Caller::from(OLIVIA.phone);
    let day = open_day(10);
    let (time, provider) = app.first_free_slot(day).await;
    let args = json!({"date": day.to_string(), "time": time, "provider_id": provider});
    knobs.lose_next_write_answers(1);
    let first = app.tool("book_appointment", args.clone(), &caller).await;
    assert!(first.ok().contains("pending"), "{first:?}");
    assert_eq!(knobs.counters().writebacks_accepted, 1);

    // The assistant tries again (a new tool call) before the practice's system applied it.
    let retry = app.tool("book_appointment", args.clone(), &caller).await;
    let said = retry.ok();
    assert!(
        said.contains("pending") && !said.contains("not available"),
        "{said}"
    );
    assert_eq!(knobs.counters().writebacks_accepted, 1, "never sent twice");

    // Applied: the booking is found among the patient's appointments and confirmed.
    knobs.apply_writebacks_now();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let again = app.tool("book_appointment", args.clone(), &caller).await;
        if again.ok().contains("confirmed") || again.ok().contains("already has") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{again:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(knobs.counters().writebacks_accepted, 1);
}

/// A booking whose answer was lost on one gateway task is sent again by another that cannot
/// know (the assistant's retry landed there): Sikka takes both, applies the first and refuses
/// the second as a clash with the same patient's appointment at that very time. That refusal
/// is the same booking, made: the caller hears it confirmed, never "nothing was changed".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clash_with_the_patients_own_booking_at_that_time_is_that_booking() {
    let env = [
        ("TOOL_BUDGET_MS", "3000"),
        ("BOOKING_CONFIRM_WAIT_MS", "300"),
        ("SANDBOX_WRITE_DELAY_MS", "600000"),
    ];
    let first_task = TestApp::spawn_on(Backend::Sikka, &env).await;
    let other_task = first_task
        .spawn_beside(tempfile::tempdir().unwrap(), &env[..2])
        .await;
    let knobs = knobs(&first_task);
    let caller = Caller::from(NOAH.phone);
    let day = open_day(11);
    let (time, provider) = first_task.first_free_slot(day).await;
    let args = json!({"date": day.to_string(), "time": time, "provider_id": provider});
    knobs.lose_next_write_answers(1);
    let first = first_task
        .tool("book_appointment", args.clone(), &caller)
        .await;
    assert!(first.ok().contains("pending"), "{first:?}");
    let twin = other_task
        .tool("book_appointment", args.clone(), &caller)
        .await;
    assert!(twin.ok().contains("pending"), "{twin:?}");
    assert_eq!(knobs.counters().writebacks_accepted, 2, "sent twice");

    knobs.apply_writebacks_now();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let again = other_task
            .tool("book_appointment", args.clone(), &caller)
            .await;
        let said = again.ok().to_owned();
        assert!(
            !said.contains("did not accept") && !said.contains("Nothing was changed"),
            "{said}"
        );
        if said.contains("confirmed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{said}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
