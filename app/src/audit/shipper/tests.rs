//! The shipper against a recording destination and a real spool in a tempdir: PutLogEvents'
//! limits, chronological timestamps, dead letters, retries, restart from the checkpoint,
//! rotation under way, drain and `AUDIT_ACK=cloudwatch`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::audit::chain::tests::event;
use crate::audit::{AuditEntry, AuditEvent, AuditSink, Spool, SpoolOptions, segments};
use crate::pms::PatientId;

/// An accepted batch: its stream and events.
type Batch = (String, Vec<LogEvent>);

/// Records every accepted batch; answers from `script` first, then accepts. While `down`, every
/// put fails as retryable.
#[derive(Clone, Default)]
struct Recording {
    batches: Arc<Mutex<Vec<Batch>>>,
    script: Arc<Mutex<VecDeque<Result<Rejections, DestinationError>>>>,
    down: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl LogDestination for Recording {
    async fn put(&self, stream: &str, events: &[LogEvent]) -> Result<Rejections, DestinationError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(DestinationError::Retryable("connection refused".into()));
        }
        let answer = self.script.lock().unwrap().pop_front();
        match answer {
            Some(Err(e)) => Err(e),
            answer => {
                self.batches
                    .lock()
                    .unwrap()
                    .push((stream.to_owned(), events.to_vec()));
                Ok(answer.map_or(Rejections::default(), Result::unwrap))
            }
        }
    }
}

impl Recording {
    fn batches(&self) -> Vec<Vec<LogEvent>> {
        let batches = self.batches.lock().unwrap();
        batches.iter().map(|(_, b)| b.clone()).collect()
    }

    fn messages(&self) -> Vec<String> {
        self.batches()
            .into_iter()
            .flatten()
            .map(|e| e.message)
            .collect()
    }
}

fn t0() -> Timestamp {
    "2026-03-02T15:00:00Z".parse().unwrap()
}

fn spool(dir: &Path, clock: Clock, segment_bytes: u64) -> Arc<Spool> {
    let options = SpoolOptions {
        fsync: false,
        prealloc_ahead: 256 << 10,
        prealloc_step: 256 << 10,
        prealloc_piece: 64 << 10,
        clock,
        segment_bytes,
        write_timeout: Duration::from_secs(30),
        ..SpoolOptions::default()
    };
    Arc::new(Spool::open(dir.join(segments::ACTIVE), options).unwrap())
}

fn options() -> ShipperOptions {
    ShipperOptions {
        clock: Clock::frozen(t0()),
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        ..ShipperOptions::default()
    }
}

fn start(spool: &Spool, destination: &Recording, options: ShipperOptions) -> Shipper {
    Shipper::start(spool.path(), spool.durable(), destination.clone(), options).unwrap()
}

/// Records `events` concurrently, 500 at a time.
async fn record_all(spool: &Arc<Spool>, events: impl IntoIterator<Item = AuditEvent>) {
    record_in(spool, events, 500).await;
}

/// Records `events` concurrently, `chunk` at a time (small chunks: small batches, so a small
/// segment size rotates often).
async fn record_in(spool: &Arc<Spool>, events: impl IntoIterator<Item = AuditEvent>, chunk: usize) {
    let events: Vec<AuditEvent> = events.into_iter().collect();
    for chunk in events.chunks(chunk) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|e| {
                let spool = spool.clone();
                tokio::spawn(async move { spool.record(e).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    }
}

async fn shipped_up_to(shipper: &Shipper, seq: u64) {
    let mut shipped = shipper.shipped();
    tokio::time::timeout(Duration::from_secs(60), shipped.wait_for(|&s| s >= seq))
        .await
        .unwrap_or_else(|_| panic!("not shipped up to {seq}: {:?}", shipper.stats()))
        .unwrap();
}

/// Every line of the chain in `dir`, in order.
fn chain_lines(dir: &Path) -> Vec<String> {
    let active = dir.join(segments::ACTIVE);
    let mut files: Vec<_> = segments::list(&active)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    files.push(active);
    let mut lines = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        lines.extend(text.trim_end_matches('\0').lines().map(str::to_owned));
    }
    lines
}

fn seq_of(message: &str) -> u64 {
    serde_json::from_str::<AuditEntry>(message).unwrap().seq
}

fn counted(batch: &[LogEvent]) -> usize {
    batch
        .iter()
        .map(|e| batch::counted_bytes(e.message.len()))
        .sum()
}

/// An event of about 2 KB (64 patient ids of 24 characters).
fn big_event(n: u64) -> AuditEvent {
    let mut e = event(n);
    e.patient_ids = (0..64)
        .map(|i| PatientId::new(format!("patient-{n:08}-{i:08}")))
        .collect();
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_hold_at_most_10000_events_and_every_line_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=25_000).map(event)).await;
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 25_000).await;
    let batches = dest.batches();
    assert!(batches.len() >= 3, "{} batches", batches.len());
    assert!(batches.iter().all(|b| b.len() <= batch::MAX_EVENTS));
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let stats = shipper.stats();
    assert_eq!((stats.shipped, stats.backlog), (25_000, 0));
    assert_eq!(stats.batches, batches.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_batch_exceeds_the_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=1_500).map(big_event)).await;
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 1_500).await;
    let batches = dest.batches();
    assert!(batches[0][0].message.len() > 1_800, "entries of ~2 KB");
    assert!(batches.len() >= 3, "{} batches", batches.len());
    for batch in &batches {
        assert!(
            counted(batch) <= batch::MAX_BATCH_BYTES,
            "{} bytes",
            counted(batch)
        );
    }
    assert_eq!(dest.messages(), chain_lines(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_batch_spans_24_hours_and_timestamps_are_the_entries_times() {
    let dir = tempfile::tempdir().unwrap();
    // The same spool over a 25-hour spread: reopened with its clock moved on.
    for hours in [0, 13, 25] {
        let start = t0() + SignedDuration::from_hours(hours);
        let spool = spool(dir.path(), Clock::starting_at(start), 0);
        record_all(&spool, (1..=10).map(event)).await;
        spool.close().await;
    }
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 30).await;
    let batches = dest.batches();
    assert!(batches.len() >= 2);
    for batch in &batches {
        let span = batch.last().unwrap().timestamp_ms - batch[0].timestamp_ms;
        assert!(span < batch::MAX_SPAN_MS, "a batch spans {span} ms");
    }
    for event in batches.iter().flatten() {
        let entry: AuditEntry = serde_json::from_str(&event.message).unwrap();
        assert_eq!(event.timestamp_ms, entry.time.as_millisecond());
    }
    assert_eq!(dest.messages().len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_earlier_than_its_predecessor_keeps_timestamps_chronological() {
    let dir = tempfile::tempdir().unwrap();
    // The spool never writes a time earlier than the one before; a hand-made file can.
    let times = [
        t0(),
        t0() - SignedDuration::from_secs(5),
        t0() + SignedDuration::from_secs(1),
    ];
    let mut prev = crate::audit::chain::GENESIS.to_owned();
    let mut text = String::new();
    for (i, time) in times.iter().enumerate() {
        let entry = AuditEntry::seal(uuid::Uuid::now_v7(), i as u64 + 1, *time, event(1), &prev);
        text.push_str(std::str::from_utf8(&entry.to_line()).unwrap());
        text.push('\n');
        prev = entry.hash;
    }
    std::fs::write(dir.path().join(segments::ACTIVE), &text).unwrap();
    let (_durable_tx, durable) = watch::channel(3);
    let dest = Recording::default();
    let shipper = Shipper::start(
        &dir.path().join(segments::ACTIVE),
        durable,
        dest.clone(),
        options(),
    )
    .unwrap();
    shipped_up_to(&shipper, 3).await;
    let events: Vec<LogEvent> = dest.batches().concat();
    let stamps: Vec<i64> = events.iter().map(|e| e.timestamp_ms).collect();
    let ms = t0().as_millisecond();
    assert_eq!(stamps, [ms, ms, ms + 1_000]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        lines
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_events_go_to_the_dead_letter_file_and_are_counted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=10).map(event)).await;
    let dest = Recording::default();
    dest.script.lock().unwrap().push_back(Ok(Rejections {
        too_old_end: Some(0),
        expired_end: Some(1),
        too_new_start: Some(8),
    }));
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 10).await;
    let lines = chain_lines(dir.path());
    let dead_path = dir.path().join(DEAD_LETTERS);
    let dead = std::fs::read_to_string(&dead_path).unwrap();
    let expected: Vec<&str> = [0, 1, 8, 9].iter().map(|&i| lines[i].as_str()).collect();
    assert_eq!(dead.lines().collect::<Vec<_>>(), expected);
    let mode = std::fs::metadata(&dead_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stats = shipper.stats();
    assert_eq!(
        (stats.dead_letters, stats.shipped, stats.backlog),
        (4, 6, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_error_twice_then_success_ships_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=5).map(event)).await;
    let dest = Recording::default();
    for _ in 0..2 {
        dest.script
            .lock()
            .unwrap()
            .push_back(Err(DestinationError::Retryable("throttled".into())));
    }
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 5).await;
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    assert_eq!(dest.batches().len(), 1);
    assert_eq!(shipper.stats().retries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_checkpoint_in_the_same_stream() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the checkpointed file is renamed into a segment before the restart.
    let spool = spool(dir.path(), Clock::starting_at(t0()), 16 << 10);
    record_all(&spool, (1..=100).map(event)).await;
    let first = Recording::default();
    let shipper = start(&spool, &first, options());
    shipped_up_to(&shipper, 100).await;
    shipper.shutdown().await;
    let stream = shipper.stream().to_owned();
    drop(shipper);
    record_in(&spool, (101..=400).map(event), 20).await;
    assert!(
        segments::list(&dir.path().join(segments::ACTIVE))
            .unwrap()
            .len()
            >= 2
    );
    let second = Recording::default();
    let shipper = start(&spool, &second, options());
    shipped_up_to(&shipper, 400).await;
    assert_eq!(
        shipper.stream(),
        stream,
        "the stream is kept in the checkpoint"
    );
    let both: Vec<String> = first
        .messages()
        .into_iter()
        .chain(second.messages())
        .collect();
    assert_eq!(
        both,
        chain_lines(dir.path()),
        "nothing twice, nothing skipped"
    );
    assert_eq!(seq_of(&second.messages()[0]), 101);
    let names = second.batches.lock().unwrap();
    assert!(names.iter().all(|(s, _)| *s == stream));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_while_shipping_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 8 << 10);
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    record_in(&spool, (1..=3_000).map(event), 20).await;
    shipped_up_to(&shipper, 3_000).await;
    assert!(
        segments::list(&dir.path().join(segments::ACTIVE))
            .unwrap()
            .len()
            > 10
    );
    let seqs: Vec<u64> = dest.messages().iter().map(|m| seq_of(m)).collect();
    assert_eq!(seqs, (1..=3_000).collect::<Vec<_>>());
    assert_eq!(dest.messages(), chain_lines(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_returns_at_the_deadline_while_down_and_once_everything_is_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let dest = Recording::default();
    dest.down.store(true, Ordering::SeqCst);
    // A backoff far longer than the test: only drain's nudge makes it try again.
    let options = ShipperOptions {
        min_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        ..options()
    };
    let shipper = start(&spool, &dest, options);
    record_all(&spool, (1..=10).map(event)).await;
    spool.close().await;
    let soon = tokio::time::Instant::now() + Duration::from_millis(200);
    assert_eq!(
        shipper.drain(soon).await,
        Err(DrainIncomplete {
            shipped: 0,
            target: 10
        })
    );
    let stats = shipper.stats();
    assert_eq!(stats.backlog, 10);
    assert!(stats.retries >= 1);
    assert!(stats.oldest_unshipped_age.is_some());
    dest.down.store(false, Ordering::SeqCst);
    let later = tokio::time::Instant::now() + Duration::from_secs(30);
    assert_eq!(shipper.drain(later).await, Ok(10));
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let stats = shipper.stats();
    assert_eq!((stats.backlog, stats.oldest_unshipped_age), (0, None));
    assert!(stats.lag_quantile(0.99) >= stats.lag_quantile(0.5));
    assert!(stats.lag_quantile(0.5) > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_spool_answers_only_once_the_destination_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let dest = Recording::default();
    dest.down.store(true, Ordering::SeqCst);
    let shipper = start(&spool, &dest, options());
    let acked = Arc::new(AckedSpool::new(
        spool.clone(),
        shipper.shipped(),
        Duration::from_secs(30),
    ));
    let record = tokio::spawn({
        let acked = acked.clone();
        async move { acked.record(event(1)).await }
    });
    let mut durable = spool.durable();
    durable.wait_for(|&d| d >= 1).await.unwrap();
    // Durable locally, refused by the destination: the caller is still waiting.
    let mut retried = false;
    for _ in 0..1000 {
        if shipper.stats().retries >= 2 {
            retried = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(retried, "the shipper tried the destination");
    assert!(!record.is_finished());
    dest.down.store(false, Ordering::SeqCst);
    let receipt = record.await.unwrap().unwrap();
    assert_eq!(receipt.seq, 1);
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let never = watch::Sender::new(0);
    let short = AckedSpool::new(spool.clone(), never.subscribe(), Duration::from_millis(50));
    assert!(matches!(
        short.record(event(2)).await,
        Err(crate::audit::AuditError::Timeout(_))
    ));
}

#[test]
fn rejections_are_a_head_and_a_tail_of_the_batch() {
    let none = Rejections::default();
    assert!(none.indexes(5).is_empty());
    let old = Rejections {
        too_old_end: Some(1),
        ..Rejections::default()
    };
    assert_eq!(old.indexes(5), [0, 1]);
    let expired_and_new = Rejections {
        too_old_end: Some(0),
        expired_end: Some(2),
        too_new_start: Some(4),
    };
    assert_eq!(expired_and_new.indexes(5), [0, 1, 2, 4]);
    let everything = Rejections {
        too_old_end: Some(9),
        ..Rejections::default()
    };
    assert_eq!(everything.indexes(3), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_keeps_the_batch_and_ships_it_once_the_cause_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=5).map(event)).await;
    let dest = Recording::default();
    dest.script
        .lock()
        .unwrap()
        .push_back(Err(DestinationError::Fatal("access denied".into())));
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 5).await;
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let stats = shipper.stats();
    assert_eq!(
        (stats.fatal_errors, stats.retries, stats.dead_letters),
        (1, 1, 0)
    );
}

/// Everything a subscriber writes, for reading what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn rejected_entries_are_logged_by_count_and_seq_never_their_content() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .finish();
    // The shipper's task runs on this thread (current-thread runtime), so it logs here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let mut canary = event(1);
    canary.reason = Some("canary-5f3e patient Jane Roe".into());
    canary.patient_ids = vec![PatientId::new("canary-patient-77")];
    spool.record(canary).await.unwrap();
    let dest = Recording::default();
    dest.script
        .lock()
        .unwrap()
        .push_back(Err(DestinationError::Retryable("throttled".into())));
    dest.script.lock().unwrap().push_back(Ok(Rejections {
        too_old_end: Some(0),
        ..Rejections::default()
    }));
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 1).await;
    assert_eq!(shipper.stats().dead_letters, 1);
    let dead = std::fs::read_to_string(dir.path().join(DEAD_LETTERS)).unwrap();
    assert!(
        dead.contains("canary-5f3e"),
        "the dead letter keeps the line"
    );
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("rejected by the destination"), "{logged}");
    assert!(
        logged.contains("count=1") && logged.contains("first_seq=1"),
        "{logged}"
    );
    assert!(logged.contains("not accepted; retrying"), "{logged}");
    assert!(
        !logged.contains("canary"),
        "entry content reached the log: {logged}"
    );
}
