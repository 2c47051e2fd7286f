//! The audit trail's path to CloudWatch Logs, against moto: entries written through a real
//! `Spool`, shipped by the `Shipper` with the `CloudWatchLogs` destination, read back with
//! `GetLogEvents` (every page) and verified as one chain; an outage under load (a proxy in
//! front of moto refusing, then holding connections) loses and duplicates nothing; and
//! `AUDIT_ACK=cloudwatch` answers only once CloudWatch holds the entry.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::config::timeout::TimeoutConfig;
use gateway::audit::shipper::{AckedSpool, DEAD_LETTERS, Shipper, ShipperOptions};
use gateway::audit::streams::StreamVerifier;
use gateway::audit::{
    AuditAction, AuditActor, AuditEntry, AuditEvent, AuditOutcome, AuditSink, Spool, SpoolOptions,
    Verifier, segments,
};
use gateway::aws::audit_logs::CloudWatchLogs;
use gateway::clock::Clock;
use gateway_tests::moto::{Moto, logs_client};
use gateway_tests::proxy::{Mode, Proxy};
use gateway_tests::unique;

fn event(n: u64) -> AuditEvent {
    AuditEvent {
        action: AuditAction::Read,
        outcome: AuditOutcome::Success,
        resource: "get_appointments".into(),
        account_id: None,
        actor: AuditActor {
            kind: "vapi".into(),
            call_id: Some(format!("call-{n}")),
            ..AuditActor::default()
        },
        patient_ids: Vec::new(),
        request_id: Some(format!("req-{n}")),
        source_ip: None,
        reason: None,
    }
}

fn spool(dir: &Path) -> Arc<Spool> {
    spool_at(dir, gateway_tests::clock())
}

/// Entries are stamped by `clock`; moto rejects those over 14 days older than its wall clock,
/// so the tests' clock has to be near it (as it is unless `GATEWAY_NOW` pins it far away).
fn spool_at(dir: &Path, clock: Clock) -> Arc<Spool> {
    let options = SpoolOptions {
        clock,
        write_timeout: Duration::from_secs(30),
        ..SpoolOptions::default()
    };
    Arc::new(Spool::open(dir.join(segments::ACTIVE), options).unwrap())
}

fn options() -> ShipperOptions {
    ShipperOptions {
        clock: gateway_tests::clock(),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        ..ShipperOptions::default()
    }
}

/// A log group of its own in `moto`, as Terraform would create it.
async fn log_group(moto: &Moto) -> String {
    let group = format!("/parlae/{}/audit", unique("t").replace('_', "-"));
    moto.logs()
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("create the log group");
    group
}

/// A client through `endpoint` whose attempts time out after a second (a held connection is
/// a timeout, then the shipper's retry).
fn quick_client(endpoint: &str) -> aws_sdk_cloudwatchlogs::Client {
    let config = logs_client(endpoint)
        .config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(config)
}

/// Records `events` concurrently, `chunk` at a time.
async fn record_in(sink: &Arc<Spool>, events: impl Iterator<Item = AuditEvent>, chunk: usize) {
    let events: Vec<AuditEvent> = events.collect();
    for chunk in events.chunks(chunk) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|e| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.record(e).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().expect("recorded");
        }
    }
}

/// Every message of the stream, following every page.
async fn read_back(moto: &Moto, group: &str, stream: &str) -> Vec<String> {
    let logs = moto.logs();
    let mut messages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("read the stream");
        messages.extend(
            page.events()
                .iter()
                .map(|e| e.message().unwrap_or_default().to_owned()),
        );
        let next = page.next_forward_token().map(str::to_owned);
        if next.is_none() || next == token {
            return messages;
        }
        token = next;
    }
}

/// Every message parses as an entry and the whole stream verifies as one chain of `n`.
fn assert_one_chain(messages: &[String], n: u64) {
    let mut verifier = Verifier::new();
    for (i, message) in messages.iter().enumerate() {
        let entry: AuditEntry = serde_json::from_str(message)
            .unwrap_or_else(|e| panic!("message {i} is not an audit entry: {e}"));
        assert_eq!(entry.seq, i as u64 + 1, "entries in chain order, each once");
        verifier
            .push(message.as_bytes())
            .unwrap_or_else(|e| panic!("the chain breaks at message {i}: {e}"));
    }
    assert_eq!(verifier.summary().entries, n);
}

async fn shipped_up_to(shipper: &Shipper, seq: u64, within: Duration) {
    let mut shipped = shipper.shipped();
    tokio::time::timeout(within, shipped.wait_for(|&s| s >= seq))
        .await
        .unwrap_or_else(|_| panic!("not shipped up to {seq}: {:?}", shipper.stats()))
        .unwrap();
}

/// Polls `condition` every 10 ms until it holds, failing after `within`.
async fn until(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_entries_read_back_from_cloudwatch_as_one_verified_chain() {
    let moto = Moto::start();
    let group = log_group(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path());
    let destination = CloudWatchLogs::new(moto.logs(), &group);
    let shipper = Shipper::start(spool.path(), spool.durable(), destination, options()).unwrap();
    // Shipped while it is written: the figures are the shipper keeping up with a live spool.
    let started = Instant::now();
    record_in(&spool, (1..=10_000).map(event), 500).await;
    let written = started.elapsed();
    shipped_up_to(&shipper, 10_000, Duration::from_secs(120)).await;
    let took = started.elapsed();
    let stats = shipper.stats();
    eprintln!(
        "10,000 entries written in {written:?} and shipped to moto {took:?} after the first \
         ({:.0} entries/s, {} batches); durable -> accepted lag p50 <= {:?}, p99 <= {:?}",
        10_000.0 / took.as_secs_f64(),
        stats.batches,
        stats.lag_quantile(0.5),
        stats.lag_quantile(0.99),
    );
    assert_eq!(
        (stats.shipped, stats.backlog, stats.dead_letters),
        (10_000, 0, 0)
    );
    let messages = read_back(&moto, &group, shipper.stream()).await;
    assert_one_chain(&messages, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_under_load_keeps_entries_in_the_spool_then_ships_them_all_unbroken() {
    let moto = Moto::start();
    let group = log_group(&moto).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path());
    let destination = CloudWatchLogs::new(quick_client(&proxy.endpoint), &group);
    let shipper = Shipper::start(spool.path(), spool.durable(), destination, options()).unwrap();
    const N: u64 = 3_000;
    let writer = tokio::spawn({
        let spool = spool.clone();
        async move { record_in(&spool, (1..=N).map(event), 25).await }
    });
    let durable = spool.durable();
    let shipped = shipper.shipped();
    until("some entries shipped", Duration::from_secs(60), || {
        *shipped.borrow() >= 200
    })
    .await;
    proxy.set(Mode::Refuse);
    let retries = shipper.stats().retries;
    let at_outage = *durable.borrow();
    until(
        "entries pile up while refused",
        Duration::from_secs(60),
        || *durable.borrow() >= at_outage + 500 && shipper.stats().retries >= retries + 3,
    )
    .await;
    proxy.set(Mode::Hold);
    until("a connection held", Duration::from_secs(30), || {
        proxy.held() >= 1
    })
    .await;
    let stats = shipper.stats();
    assert!(stats.backlog >= 400, "entries wait in the spool: {stats:?}");
    assert!(stats.oldest_unshipped_age.is_some());
    proxy.set(Mode::Pass);
    writer.await.unwrap();
    // As on SIGTERM: the spool closes, the shipper drains what is left.
    spool.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    assert_eq!(
        shipper.drain(deadline).await,
        Ok(N),
        "{:?}",
        shipper.stats()
    );
    let messages = read_back(&moto, &group, shipper.stream()).await;
    // A put whose answer came too late for the client's attempt timeout (a loaded machine) is
    // sent again, and CloudWatch may hold both: a duplicate the trail tolerates and reports,
    // never a gap or a broken link.
    let report = StreamVerifier::check(messages.iter().map(|m| m.as_bytes()));
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.entries, N, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_ack_cloudwatch_answers_only_once_cloudwatch_holds_the_entry() {
    let moto = Moto::start();
    let group = log_group(&moto).await;
    let proxy = Proxy::start(&moto.endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path());
    let destination = CloudWatchLogs::new(quick_client(&proxy.endpoint), &group);
    let shipper = Shipper::start(spool.path(), spool.durable(), destination, options()).unwrap();
    let sink = Arc::new(AckedSpool::new(
        spool.clone(),
        shipper.shipped(),
        Duration::from_secs(60),
    ));
    proxy.set(Mode::Hold);
    let record = tokio::spawn({
        let sink = sink.clone();
        async move { sink.record(event(1)).await }
    });
    let durable = spool.durable();
    until(
        "the entry is durable in the spool",
        Duration::from_secs(10),
        || *durable.borrow() >= 1,
    )
    .await;
    until("the put is held", Duration::from_secs(10), || {
        proxy.held() >= 1
    })
    .await;
    assert!(
        !record.is_finished(),
        "record answered before CloudWatch had the entry"
    );
    proxy.set(Mode::Pass);
    let receipt = tokio::time::timeout(Duration::from_secs(30), record)
        .await
        .expect("record answers once CloudWatch is back")
        .unwrap()
        .expect("recorded");
    assert_eq!(receipt.seq, 1);
    let messages = read_back(&moto, &group, shipper.stream()).await;
    assert_one_chain(&messages, 1);
    let entry: AuditEntry = serde_json::from_str(&messages[0]).unwrap();
    assert_eq!(entry.id, receipt.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_cloudwatch_rejects_as_too_old_are_kept_in_the_dead_letter_file() {
    let moto = Moto::start();
    let group = log_group(&moto).await;
    let dir = tempfile::tempdir().unwrap();
    let now = gateway_tests::clock().now();
    // A spool that was left unshipped for 15 days (its entries are too old for CloudWatch),
    // then written to again.
    let stale = spool_at(
        dir.path(),
        Clock::starting_at(now - jiff::SignedDuration::from_hours(15 * 24)),
    );
    record_in(&stale, (1..=3).map(event), 1).await;
    stale.close().await;
    drop(stale);
    let spool = spool(dir.path());
    record_in(&spool, (4..=5).map(event), 1).await;
    let destination = CloudWatchLogs::new(moto.logs(), &group);
    let shipper = Shipper::start(spool.path(), spool.durable(), destination, options()).unwrap();
    shipped_up_to(&shipper, 5, Duration::from_secs(30)).await;
    let stats = shipper.stats();
    assert_eq!((stats.dead_letters, stats.shipped), (3, 2));
    let dead = std::fs::read_to_string(dir.path().join(DEAD_LETTERS)).unwrap();
    let shipped = read_back(&moto, &group, shipper.stream()).await;
    let dead_seqs: Vec<u64> = dead.lines().map(seq_of).collect();
    let shipped_seqs: Vec<u64> = shipped.iter().map(|m| seq_of(m)).collect();
    assert_eq!((dead_seqs, shipped_seqs), (vec![1, 2, 3], vec![4, 5]));
    // Together they are the whole chain.
    let all: Vec<String> = dead.lines().map(str::to_owned).chain(shipped).collect();
    assert_one_chain(&all, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_log_group_entries_wait_and_ship_once_it_exists() {
    let moto = Moto::start();
    let group = format!("/parlae/{}/audit", unique("t").replace('_', "-"));
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path());
    record_in(&spool, (1..=20).map(event), 5).await;
    let destination = CloudWatchLogs::new(moto.logs(), &group);
    let shipper = Shipper::start(spool.path(), spool.durable(), destination, options()).unwrap();
    until(
        "the missing group is reported",
        Duration::from_secs(30),
        || shipper.stats().fatal_errors >= 1,
    )
    .await;
    assert_eq!(shipper.stats().backlog, 20);
    moto.logs()
        .create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .expect("create the log group");
    shipped_up_to(&shipper, 20, Duration::from_secs(30)).await;
    let messages = read_back(&moto, &group, shipper.stream()).await;
    assert_one_chain(&messages, 20);
}

fn seq_of(message: &str) -> u64 {
    serde_json::from_str::<AuditEntry>(message).unwrap().seq
}
