//! The audit trail under attack and under failure, as an operator would see it: a flood of
//! denied requests cannot fill the disk, a filling disk makes `/readyz` fail while calls still
//! answer, a write whose intent cannot be audited never reaches the practice's system, and
//! `gateway audit-verify` checks a directory's chain and names a segment that does not join.

use gateway_tests::{Backend, Caller, TestApp, audit_entries_in, denials_represented, fixture::*};
use serde_json::{Value, json};

/// How many denials the entries stand for: one each, or the `count: N` of an aggregate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_denied_requests_writes_few_bounded_entries_and_loses_no_count() {
    let app = TestApp::spawn().await;
    let flood = 400;
    let started = std::time::Instant::now();
    for i in 0..flood {
        // Unsigned; every tenth from a long, attacker-chosen path.
        let path = if i % 10 == 0 {
            format!("/vapi/tools/{}", "x".repeat(4000))
        } else {
            "/vapi/tools/list_providers".to_owned()
        };
        let resp = app
            .client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401);
    }
    let seconds = started.elapsed().as_secs() + 1;
    // Shutting down writes the counts still open.
    let (status, output, dir) = app.terminate();
    assert!(status.success(), "{output}");
    let entries = audit_entries_in(dir.path());
    let denied: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    // Per second: the first one by one, and one count for the rest.
    assert!(
        denied.len() as u64 <= 2 * seconds + 1,
        "{} entries for {flood} denials in {seconds} s",
        denied.len()
    );
    assert_eq!(denials_represented(&entries, None), flood);
    assert!(
        entries.iter().any(|e| e["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("count: "))),
        "an aggregated entry"
    );
    for e in &entries {
        let resource = e["resource"].as_str().unwrap();
        assert!(
            resource.chars().count() <= 201,
            "resource of {} chars",
            resource.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_below_the_free_space_watermark_while_tool_calls_still_answer() {
    // A petabyte: more than the temp dir's filesystem has free.
    let low = TestApp::spawn_with(&[("AUDIT_MIN_FREE_MIB", "1000000000")]).await;
    let resp = low.client.get(low.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: Value = resp.json().await.unwrap();
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("AUDIT_MIN_FREE_MIB"), "{body}");
    let answer = low
        .tool("list_providers", json!({}), &Caller::default())
        .await;
    assert!(answer.ok().contains(DR_LEE), "{answer:?}");

    let plenty = TestApp::spawn_with(&[("AUDIT_MIN_FREE_MIB", "1")]).await;
    let resp = plenty
        .client
        .get(plenty.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_whose_intent_cannot_be_audited_never_reaches_the_practice() {
    let good = TestApp::spawn_on(Backend::Sikka, &[]).await;
    let day = light_day();
    let (time, provider) = good.first_free_slot(day).await;
    // A second gateway for the same practice whose audit spool is a full disk: a real ENOSPC
    // on every write.
    let full = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/full", full.path().join("audit.jsonl")).unwrap();
    let broken = good
        .spawn_beside(full, &[("AUDIT_PREALLOC_MIB", "0")])
        .await;
    let booking = json!({"date": day.to_string(), "time": time, "provider_id": provider});
    let answer = broken
        .tool(
            "book_appointment",
            booking.clone(),
            &Caller::from(OLIVIA.phone),
        )
        .await;
    assert!(answer.err().contains("could not record"), "{answer:?}");
    let knobs = good.sikka.as_ref().unwrap().knobs();
    assert_eq!(
        knobs.counters().writebacks_accepted,
        0,
        "the PMS was asked to write"
    );
    assert_eq!(knobs.pending_writebacks(), 0);

    // The slot was free: where the audit works, the same booking goes through, intent first.
    let answer = good
        .tool("book_appointment", booking, &Caller::from(OLIVIA.phone))
        .await;
    assert!(
        answer.ok().contains("Booked") || answer.ok().contains("pending"),
        "{answer:?}"
    );
    assert_eq!(knobs.counters().writebacks_accepted, 1);
    let outcomes: Vec<Value> = good
        .audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == "book_appointment")
        .map(|e| e["outcome"].clone())
        .collect();
    assert_eq!(outcomes.first(), Some(&json!("intent")), "{outcomes:?}");
    assert!(outcomes.len() >= 2, "the outcome follows: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_checks_a_directory_and_names_a_segment_that_does_not_join() {
    let app = TestApp::spawn().await;
    app.tool("list_providers", json!({}), &Caller::default())
        .await;
    let (status, output, dir) = app.terminate();
    assert!(status.success(), "{output}");
    let verify = || {
        std::process::Command::new(gateway_tests::gateway_bin())
            .args(["audit-verify", dir.path().to_str().unwrap()])
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("chain intact"));
    // The same entries again as an earlier segment: the active file no longer continues it.
    std::fs::copy(
        dir.path().join("audit.jsonl"),
        dir.path().join("audit.000001.jsonl"),
    )
    .unwrap();
    let broken = verify();
    assert!(!broken.status.success());
    let says = String::from_utf8_lossy(&broken.stderr);
    assert!(
        says.contains("audit.jsonl") && says.contains("does not continue"),
        "{says}"
    );
}
