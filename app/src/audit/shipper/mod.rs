//! Ships the audit spool to a [`LogDestination`] (CloudWatch Logs in production,
//! `crate::aws::audit_logs`), entry by entry in chain order, each entry once.
//!
//! # Path
//! The spool announces its last durable seq ([`crate::audit::Spool::durable`]); the shipper
//! wakes on it (and on a slow safety tick), reads the chain's files in order with
//! [`reader::Reader`] (complete lines, never beyond the durable seq, following the active file
//! when it is renamed into a segment), cuts batches within PutLogEvents' limits
//! ([`batch`]: 10,000 events, 1,048,576 counted bytes, non-decreasing timestamps, under 24 h)
//! and puts them into one stream. Each event's message is the spool line exactly; its timestamp
//! the entry's `time` in ms.
//!
//! # Failures
//! A retryable error (throttling, 5xx, timeout, connection) retries the same batch with
//! exponential backoff and jitter (`backon`), indefinitely: the entries stay in the spool until
//! accepted. A fatal one (permissions, a missing group) is logged and retried after the longest
//! backoff, so nothing is dropped and fixing the cause resumes shipping. Events the destination
//! rejects (too old, too new, expired) are appended to the dead-letter file
//! ([`checkpoint::DEAD_LETTERS`], `0600`), counted, and logged by count and seq only. A line
//! that is not an entry (the spool never writes one; `audit-verify` finds it) stops shipping
//! there, logged as an error and retried, rather than be skipped or guessed at.
//!
//! # Checkpoint and stream
//! After each accepted batch, the checkpoint ([`checkpoint::CHECKPOINT`], written atomically)
//! records the stream, the last shipped seq and where its line ends; a restart resumes from it,
//! so nothing is shipped twice in the normal case (a crash between an accepted put and the
//! checkpoint ships that batch again) and nothing is skipped. The stream is
//! [`ShipperOptions::stream`] when set, else named once (`<HOSTNAME>-<uuid v7>`) and kept in the
//! checkpoint, so a restarted task on the same storage continues its stream and the chain stays
//! in one stream.
//!
//! # Wiring
//! `Shipper::start(spool.path(), spool.durable(), destination, options)` inside a tokio runtime;
//! [`Shipper::shipped`] for `AUDIT_ACK=cloudwatch` ([`ack::AckedSpool`]); [`Shipper::stats`] for
//! metrics. On SIGTERM: stop accepting requests, close the spool, [`Shipper::drain`] with a
//! deadline, then [`Shipper::shutdown`].

pub mod ack;
pub mod batch;
pub mod checkpoint;
pub mod destination;
pub mod reader;
pub mod stats;
mod worker;

pub use ack::AckedSpool;
pub use checkpoint::{CHECKPOINT, Checkpoint, DEAD_LETTERS, Position};
pub use destination::{DestinationError, LogDestination, LogEvent, Rejections};
pub use stats::ShipperStats;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::clock::Clock;
use reader::Reader;
use stats::LagClock;

#[derive(Debug, Clone)]
pub struct ShipperOptions {
    /// The stream to ship to (`AUDIT_LOG_STREAM`); `None`: the checkpoint's, or a new one.
    pub stream: Option<String>,
    /// For the age of the oldest unshipped entry.
    pub clock: Clock,
    /// Look for entries this often even without a notification from the spool.
    pub tick: Duration,
    /// The first retry's delay; it doubles (with jitter) up to `max_backoff`.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ShipperOptions {
    fn default() -> Self {
        Self {
            stream: None,
            clock: Clock::system(),
            tick: Duration::from_secs(5),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// [`Shipper::drain`] reached its deadline first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("audit shipping incomplete at the deadline: shipped up to seq {shipped} of {target}")]
pub struct DrainIncomplete {
    pub shipped: u64,
    pub target: u64,
}

#[derive(Debug, Default)]
struct Counters {
    shipped: u64,
    batches: u64,
    dead_letters: u64,
    retries: u64,
    fatal_errors: u64,
    shipped_seq: u64,
    oldest_unshipped: Option<Timestamp>,
}

struct Shared {
    counters: Mutex<Counters>,
    lag: Mutex<LagClock>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running shipper. See the module documentation.
pub struct Shipper {
    shared: Arc<Shared>,
    stream: String,
    durable: watch::Receiver<u64>,
    shipped: watch::Receiver<u64>,
    nudge: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    clock: Clock,
}

impl Shipper {
    /// Starts shipping the spool whose active file is `active` (its directory holds the
    /// checkpoint and the dead letters), woken by `durable` ([`crate::audit::Spool::durable`]).
    pub fn start<D: LogDestination>(
        active: &Path,
        durable: watch::Receiver<u64>,
        destination: D,
        options: ShipperOptions,
    ) -> std::io::Result<Shipper> {
        let dir = match active.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let saved = Checkpoint::load(&dir)?;
        let (shipped, position) = saved
            .as_ref()
            .map_or((0, None), |c| (c.shipped, c.position));
        let stream = match (&options.stream, &saved) {
            (Some(configured), _) => configured.clone(),
            (None, Some(saved)) => saved.stream.clone(),
            (None, None) => {
                let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gateway".into());
                format!("{host}-{}", uuid::Uuid::now_v7())
            }
        };
        let checkpoint = Checkpoint {
            stream: stream.clone(),
            shipped,
            position,
        };
        if saved.as_ref() != Some(&checkpoint) {
            checkpoint.store(&dir)?;
        }
        if shipped > *durable.borrow() {
            // A checkpoint ahead of the spool: the spool was replaced. Entries up to `shipped`
            // are not shipped again; an operator has to look.
            tracing::error!(
                shipped,
                durable = *durable.borrow(),
                "audit shipper: the checkpoint is ahead of the spool (was the spool replaced?)"
            );
        }
        let reader = Reader::open(active, shipped, position)?;
        let shared = Arc::new(Shared {
            counters: Mutex::new(Counters {
                shipped_seq: shipped,
                ..Counters::default()
            }),
            lag: Mutex::new(LagClock::new(shipped)),
        });
        let (shipped_tx, shipped_rx) = watch::channel(shipped);
        let (stop, stop_rx) = watch::channel(false);
        let nudge = Arc::new(Notify::new());
        let worker = worker::Worker {
            destination,
            dir,
            checkpoint,
            reader,
            pending: VecDeque::new(),
            floor: i64::MIN,
            durable: durable.clone(),
            shipped: shipped_tx,
            stop: stop_rx,
            nudge: nudge.clone(),
            shared: shared.clone(),
            options: options.clone(),
        };
        let task = tokio::spawn(worker.run());
        Ok(Shipper {
            shared,
            stream,
            durable,
            shipped: shipped_rx,
            nudge,
            stop,
            task: Mutex::new(Some(task)),
            clock: options.clock,
        })
    }

    /// The stream this spool ships to.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The last seq the destination accepted (or that was dead-lettered).
    pub fn shipped(&self) -> watch::Receiver<u64> {
        self.shipped.clone()
    }

    pub fn stats(&self) -> ShipperStats {
        let c = lock(&self.shared.counters);
        let durable_seq = *self.durable.borrow();
        let age = c.oldest_unshipped.map(|t| {
            let age = self.clock.now().duration_since(t);
            Duration::try_from(age).unwrap_or(Duration::ZERO)
        });
        ShipperStats {
            shipped: c.shipped,
            batches: c.batches,
            dead_letters: c.dead_letters,
            retries: c.retries,
            fatal_errors: c.fatal_errors,
            durable_seq,
            shipped_seq: c.shipped_seq,
            backlog: durable_seq.saturating_sub(c.shipped_seq),
            oldest_unshipped_age: age,
            lag_us: lock(&self.shared.lag).histogram,
        }
    }

    /// Ships everything durable now; returns once it is accepted, or at `deadline` with what
    /// is left. A retry waiting out its backoff is tried at once.
    pub async fn drain(&self, deadline: tokio::time::Instant) -> Result<u64, DrainIncomplete> {
        let target = *self.durable.borrow();
        self.nudge.notify_one();
        let mut shipped = self.shipped.clone();
        let done = tokio::time::timeout_at(deadline, shipped.wait_for(|&s| s >= target)).await;
        match done {
            Ok(Ok(_)) => Ok(target),
            _ => Err(DrainIncomplete {
                shipped: *self.shipped.borrow(),
                target,
            }),
        }
    }

    /// Stops shipping (a batch in flight is abandoned, and shipped again after a restart).
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

#[cfg(test)]
mod tests;
