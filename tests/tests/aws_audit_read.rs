//! The audit trail read back from CloudWatch Logs, against moto: the log group holds what the
//! shipper sends (one stream per task, one spool line per event, timestamped with the entry's
//! time), put here by the test with `PutLogEvents`. `CloudWatchQuery` answers `GET
//! /audit/events`' filters and pages; `AuditStreams` (what `cargo xtask audit-verify` runs)
//! reports a clean stream intact, a removed event as a gap, a batch that landed twice as
//! duplicates (still intact), and a tampered message as broken.

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use gateway::{
    admin::{AuditFilter, AuditQuery, CloudWatchQuery},
    audit::{
        AuditAction, AuditActor, AuditEntry, AuditEvent, AuditOutcome, chain::GENESIS,
        streams::StreamProblem,
    },
    aws::audit_streams::AuditStreams,
    pms::{AccountId, PatientId},
};
use gateway_tests::moto::Moto;
use jiff::{SignedDuration, Timestamp};

const GROUP: &str = "/parlae/dev/audit";

/// The `i`th event of a task's chain: accounts, calls, actions and patients vary with `i`.
fn event(i: u64) -> AuditEvent {
    AuditEvent {
        action: if i.is_multiple_of(3) {
            AuditAction::Create
        } else {
            AuditAction::Read
        },
        outcome: AuditOutcome::Success,
        resource: "get_appointments".into(),
        account_id: Some(AccountId::new(if i.is_multiple_of(2) {
            "acct_a"
        } else {
            "acct_b"
        })),
        actor: AuditActor {
            kind: "vapi".into(),
            call_id: Some(format!("call-{}", i % 4)),
            ..Default::default()
        },
        patient_ids: vec![PatientId::new(format!("p{}", i % 5))],
        request_id: None,
        source_ip: None,
        reason: None,
    }
}

/// `n` chained entries, a second apart, starting `start`.
fn chain(n: u64, start: Timestamp) -> Vec<AuditEntry> {
    let mut prev = GENESIS.to_owned();
    (1..=n)
        .map(|seq| {
            let time = start + SignedDuration::from_secs(seq as i64);
            let entry = AuditEntry::seal(uuid::Uuid::now_v7(), seq, time, event(seq), &prev);
            prev = entry.hash.clone();
            entry
        })
        .collect()
}

/// moto accepts events from the last 14 days only, judged by the real clock: the entries are
/// dated from the system clock (through the gateway's clock type), an hour back.
fn an_hour_ago() -> Timestamp {
    gateway::clock::Clock::system().now() - SignedDuration::from_hours(1)
}

/// Sends `lines` (with their entries' times) to `stream` as one `PutLogEvents` batch.
async fn put(logs: &aws_sdk_cloudwatchlogs::Client, stream: &str, lines: &[(i64, String)]) {
    let events = lines
        .iter()
        .map(|(ms, message)| {
            InputLogEvent::builder()
                .timestamp(*ms)
                .message(message)
                .build()
                .unwrap()
        })
        .collect::<Vec<_>>();
    let out = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(stream)
        .set_log_events(Some(events))
        .send()
        .await
        .expect("PutLogEvents");
    assert!(out.rejected_log_events_info().is_none(), "all accepted");
}

fn lines(entries: &[AuditEntry]) -> Vec<(i64, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e.time.as_millisecond(),
                String::from_utf8(e.to_line()).unwrap(),
            )
        })
        .collect()
}

async fn group_with_streams(moto: &Moto, streams: &[&str]) -> aws_sdk_cloudwatchlogs::Client {
    let logs = moto.logs();
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .expect("CreateLogGroup");
    for stream in streams {
        logs.create_log_stream()
            .log_group_name(GROUP)
            .log_stream_name(*stream)
            .send()
            .await
            .expect("CreateLogStream");
    }
    logs
}

fn sorted_ids(entries: &[&AuditEntry]) -> Vec<uuid::Uuid> {
    let mut ids: Vec<_> = entries.iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloudwatch_query_applies_every_filter_and_pages_through_everything_once() {
    let moto = Moto::start();
    let logs = group_with_streams(&moto, &["task-1", "task-2"]).await;
    let start = an_hour_ago();
    let one = chain(12, start);
    let two = chain(9, start + SignedDuration::from_millis(500));
    put(&logs, "task-1", &lines(&one)).await;
    put(&logs, "task-2", &lines(&two)).await;
    // A retried batch landed twice: answered once.
    put(&logs, "task-2", &lines(&two[6..])).await;
    let all: Vec<&AuditEntry> = one.iter().chain(&two).collect();
    let retried: std::collections::HashSet<uuid::Uuid> = two[6..].iter().map(|e| e.id).collect();
    let query = CloudWatchQuery::new(moto.logs(), GROUP);

    let check = |filter: AuditFilter| {
        let query = &query;
        let all = &all;
        let retried = &retried;
        async move {
            let want: Vec<&AuditEntry> =
                all.iter().copied().filter(|e| filter.matches(e)).collect();
            assert!(!want.is_empty(), "the filter selects something: {filter:?}");
            assert!(want.len() < all.len(), "the filter narrows: {filter:?}");
            // One page, then pages of 2 following the tokens.
            let page = query.query(&filter, 1000, None).await.expect("query");
            assert!(page.next_token.is_none());
            let got: Vec<&AuditEntry> = page.entries.iter().collect();
            assert_eq!(sorted_ids(&got), sorted_ids(&want), "{filter:?}");
            let mut paged = Vec::new();
            let mut token = None;
            for _ in 0..all.len() + 2 {
                let page = query
                    .query(&filter, 2, token.as_deref())
                    .await
                    .expect("query");
                assert!(page.entries.len() <= 2);
                paged.extend(page.entries);
                token = page.next_token;
                if token.is_none() {
                    break;
                }
            }
            assert!(token.is_none(), "the pages end");
            let paged: Vec<&AuditEntry> = paged.iter().collect();
            // Every matching entry, and once, except that a copy of the retried batch may
            // come again on a later page (within a page it is answered once).
            for e in &paged {
                let times = paged.iter().filter(|x| x.id == e.id).count();
                assert!(
                    times == 1 || (times == 2 && retried.contains(&e.id)),
                    "entry {} answered {times} times",
                    e.seq
                );
            }
            let mut unique = sorted_ids(&paged);
            unique.dedup();
            assert_eq!(unique, sorted_ids(&want), "paged: {filter:?}");
        }
    };
    check(AuditFilter {
        account_id: Some("acct_a".into()),
        ..Default::default()
    })
    .await;
    check(AuditFilter {
        call_id: Some("call-1".into()),
        action: Some(AuditAction::Read),
        ..Default::default()
    })
    .await;
    check(AuditFilter {
        patient_id: Some("p3".into()),
        ..Default::default()
    })
    .await;
    check(AuditFilter {
        from: Some(start + SignedDuration::from_secs(4)),
        to: Some(start + SignedDuration::from_secs(8)),
        ..Default::default()
    })
    .await;
    // A token this store never handed out is refused.
    assert!(
        query
            .query(&AuditFilter::default(), 10, Some("seq:4"))
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_reads_every_page_and_reports_gaps_duplicates_and_tampering() {
    let moto = Moto::start();
    let streams = ["clean", "gap", "twice", "tampered"];
    let logs = group_with_streams(&moto, &streams).await;
    let start = an_hour_ago();
    let entries = chain(9, start);
    let all = lines(&entries);
    put(&logs, "clean", &all).await;
    let mut gap = all.clone();
    gap.remove(4); // seq 5
    put(&logs, "gap", &gap).await;
    put(&logs, "twice", &all[..6]).await;
    put(&logs, "twice", &all[3..6]).await; // the retried batch
    put(&logs, "twice", &all[6..]).await;
    let mut tampered = all.clone();
    tampered[6].1 = tampered[6]
        .1
        .replace("\"get_appointments\"", "\"list_providers\"");
    assert_ne!(tampered[6], all[6]);
    put(&logs, "tampered", &tampered).await;

    // Pages of 2 events: every page must be read to see the whole stream.
    let reader = AuditStreams::new(moto.logs(), GROUP).with_page_limit(2);
    assert_eq!(reader.names().await.unwrap(), {
        let mut names = streams.map(str::to_owned).to_vec();
        names.sort();
        names
    });

    let clean = reader.check("clean").await.unwrap();
    assert!(clean.intact(), "{clean:?}");
    assert_eq!((clean.events, clean.entries), (9, 9));
    assert!(clean.problems.is_empty());

    let gap = reader.check("gap").await.unwrap();
    assert!(!gap.intact());
    assert_eq!(gap.problems, vec![StreamProblem::Gap { from: 5, to: 5 }]);

    let twice = reader.check("twice").await.unwrap();
    assert!(twice.intact(), "duplicates are tolerated: {twice:?}");
    assert_eq!((twice.events, twice.entries), (12, 9));
    assert_eq!(twice.duplicates(), 3);

    let broken = reader.check("tampered").await.unwrap();
    assert!(!broken.intact());
    assert!(
        matches!(
            broken.problems.as_slice(),
            [StreamProblem::Broken { seq: Some(7), .. }]
        ),
        "{broken:?}"
    );
}

/// The `xtask` binary, built once (it is the operator's command: `cargo xtask audit-verify`).
fn xtask_bin() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", "xtask"])
        .status()
        .expect("run cargo build for xtask");
    assert!(status.success(), "building xtask failed");
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("xtask")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_xtask_audit_verify_fails_on_a_gap_and_passes_with_duplicates() {
    let moto = Moto::start();
    let logs = group_with_streams(&moto, &["retried", "lossy"]).await;
    let all = lines(&chain(5, an_hour_ago()));
    put(&logs, "retried", &all).await;
    put(&logs, "retried", &all[3..]).await;
    let mut lossy = all.clone();
    lossy.remove(1);
    put(&logs, "lossy", &lossy).await;
    let bin = xtask_bin();
    let run = |stream: Option<&'static str>| {
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(moto.env())
            .args(["audit-verify", "--env", "dev"]);
        if let Some(stream) = stream {
            cmd.args(["--stream", stream]);
        }
        async move {
            let out = cmd.output().await.expect("run xtask");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            (out.status.success(), text)
        }
    };
    let (ok, text) = run(Some("retried")).await;
    assert!(ok, "{text}");
    assert!(
        text.contains("retried: ok: 7 events, 5 entries, 2 duplicates"),
        "{text}"
    );
    let (ok, text) = run(None).await;
    assert!(!ok, "a gap fails the check: {text}");
    assert!(text.contains("lossy: BROKEN"), "{text}");
    assert!(text.contains("gap: entry 2 is missing"), "{text}");
}
