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

mod failures;
mod lifecycle;
mod limits;
