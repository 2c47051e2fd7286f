//! Time budgets: one budget for a whole Vapi request, shared by its calls in order; and a write
//! already sent to the practice's system is never cancelled when its call's budget runs out —
//! the caller hears "pending", the write finishes in the background, and a retry of the call
//! hears what really happened.

use std::time::{Duration, Instant};

use gateway_tests::{Caller, TestApp, fixture::*, unique};
use serde_json::{Value, json};

/// The sandbox applies a write 2.5 s after it is sent, a booking waits up to 4 s for that, and
/// a call may take 1 s: every booking outlives its call's budget while its write is under way.
const SLOW_WRITES: [(&str, &str); 3] = [
    ("TOOL_BUDGET_MS", "1000"),
    ("BOOKING_CONFIRM_WAIT_MS", "4000"),
    ("SANDBOX_WRITE_DELAY_MS", "2500"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_under_way_when_the_budget_ends_is_pending_not_failed_and_finishes() {
    let app = TestApp::spawn_with(&SLOW_WRITES).await;
    let caller = Caller::from(OLIVIA.phone);
    let day = open_day(7);
    let (time, provider) = app.first_free_slot(day).await;
    let args = json!({"date": day.to_string(), "time": time, "provider_id": provider});
    let id = unique("tc");
    let first = app
        .tool_with_id("book_appointment", args.clone(), &caller, &id)
        .await;
    // Pending, not booked: the call was answered when its budget ended, before the write was
    // applied (a booking still waiting for it would have heard "Booked" within the confirm wait).
    let said = first.ok().to_owned();
    assert!(said.contains("pending"), "{said}");

    // The write was not cancelled: the practice's system gets the appointment.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mine = app
            .tool("get_appointments", json!({}), &caller)
            .await
            .json();
        let booked = mine["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["date"] == day.to_string() && a["time"] == time.as_str());
        if booked {
            break;
        }
        assert!(Instant::now() < deadline, "never booked: {mine}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Vapi retries the call: it hears the booking, never a second one or a refusal.
    let retry = app
        .tool_with_id("book_appointment", args, &caller, &id)
        .await;
    assert!(retry.ok().contains("Booked"), "{retry:?}");
    let mine = app
        .tool("get_appointments", json!({}), &caller)
        .await
        .json();
    let copies = mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["date"] == day.to_string() && a["time"] == time.as_str())
        .count();
    assert_eq!(copies, 1, "{mine}");
    // Audited: the pending answer, then the outcome when it finished.
    let outcomes: Vec<Value> = app
        .audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == "book_appointment")
        .map(|e| e["outcome"].clone())
        .collect();
    let pending = outcomes.iter().position(|o| o == "pending");
    assert!(pending.is_some(), "{outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_calls_of_one_request_share_one_budget() {
    let mut env = SLOW_WRITES.to_vec();
    env.push(("REQUEST_BUDGET_MS", "1000"));
    let app = TestApp::spawn_with(&env).await;
    let caller = Caller::from(OLIVIA.phone);
    let day = open_day(8);
    let (time, provider) = app.first_free_slot(day).await;
    let mut body = TestApp::message(
        "book_appointment",
        json!({"date": day.to_string(), "time": time, "provider_id": provider}),
        &caller,
        "tc_book",
    );
    body["message"]["toolCallList"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "tc_list", "type": "function", "function": {"name": "list_providers", "arguments": {}}}));
    let started = Instant::now();
    let resp = app
        .post_signed("/vapi/webhook", &serde_json::to_vec(&body).unwrap())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{v}");
    assert!(
        results[0]["result"].as_str().unwrap().contains("pending"),
        "{v}"
    );
    // The booking spent the request's budget: the second call is not started.
    let second = results[1]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(second.contains("not enough time"), "{v}");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "the request ended with its budget: {:?}",
        started.elapsed()
    );
}
