//! The shipper's task: reads what is durable, cuts batches, puts them until accepted (backoff and
//! jitter on errors), dead-letters rejections, moves the checkpoint, and publishes the shipped
//! seq. See the parent module for the whole path.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::{Notify, watch};

use super::checkpoint::{Checkpoint, DeadLetters};
use super::reader::{Line, Reader};
use super::{DestinationError, LogDestination, LogEvent, Shared, ShipperOptions, batch, lock};

pub(super) struct Worker<D> {
    pub(super) destination: D,
    pub(super) dir: PathBuf,
    pub(super) checkpoint: Checkpoint,
    pub(super) reader: Reader,
    pub(super) pending: VecDeque<Line>,
    /// The last timestamp sent.
    pub(super) floor: i64,
    pub(super) durable: watch::Receiver<u64>,
    pub(super) shipped: watch::Sender<u64>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) nudge: Arc<Notify>,
    pub(super) shared: Arc<Shared>,
    pub(super) options: ShipperOptions,
}

/// The worker was told to stop.
struct Stopped;

impl<D: LogDestination> Worker<D> {
    pub(super) async fn run(mut self) {
        let _ = self.work().await;
    }

    async fn work(&mut self) -> Result<(), Stopped> {
        let mut spool_open = true;
        loop {
            if *self.stop.borrow() {
                return Err(Stopped);
            }
            let durable = *self.durable.borrow_and_update();
            lock(&self.shared.lag).durable(durable, Instant::now());
            if self.pending.len() < batch::MAX_EVENTS && self.reader.next_seq() <= durable {
                let room = 2 * batch::MAX_EVENTS - self.pending.len();
                match self.reader.read(durable, room, 2 * batch::MAX_BATCH_BYTES) {
                    Ok(lines) => self.pending.extend(lines),
                    Err(e) => {
                        tracing::error!(error = %e, "audit shipper: reading the spool failed; retrying");
                        self.pause(self.options.max_backoff).await?;
                        continue;
                    }
                }
            }
            lock(&self.shared.counters).oldest_unshipped = self.pending.front().map(|l| l.time);
            if !self.pending.is_empty() {
                self.ship_batch().await?;
                continue;
            }
            // Nothing to ship: wait for the spool, or look again soon if it is ahead of the
            // reader (a line not yet visible, a rotation under way).
            let wait = if self.reader.next_seq() <= durable {
                Duration::from_millis(20)
            } else {
                self.options.tick
            };
            let mut stop = self.stop.clone();
            tokio::select! {
                changed = self.durable.changed(), if spool_open => spool_open = changed.is_ok(),
                () = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|&s| s) => return Err(Stopped),
            }
        }
    }

    /// Waits `delay`, cut short by [`Shipper::drain`]; `Err` when told to stop.
    async fn pause(&self, delay: Duration) -> Result<(), Stopped> {
        let mut stop = self.stop.clone();
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            () = self.nudge.notified() => Ok(()),
            _ = stop.wait_for(|&s| s) => Err(Stopped),
        }
    }

    /// Puts the next batch until the destination accepts it, then dead-letters what it
    /// rejected and moves the checkpoint.
    async fn ship_batch(&mut self) -> Result<(), Stopped> {
        let stamps = batch::plan(
            self.pending
                .iter()
                .map(|l| (l.time.as_millisecond(), l.text.len())),
            self.floor,
        );
        let events: Vec<LogEvent> = self
            .pending
            .iter()
            .zip(&stamps)
            .map(|(line, &timestamp_ms)| LogEvent {
                timestamp_ms,
                message: line.text.clone(),
            })
            .collect();
        let (first, last) = (self.pending[0].seq, self.pending[events.len() - 1].seq);
        let mut backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.options.min_backoff)
            .with_max_delay(self.options.max_backoff)
            .without_max_times()
            .build();
        let rejections = loop {
            let mut stop = self.stop.clone();
            let result = tokio::select! {
                result = self.destination.put(&self.checkpoint.stream, &events) => result,
                _ = stop.wait_for(|&s| s) => return Err(Stopped),
            };
            let error = match result {
                Ok(rejections) => break rejections,
                Err(e) => e,
            };
            let delay = {
                let mut c = lock(&self.shared.counters);
                c.retries += 1;
                match &error {
                    DestinationError::Fatal(_) => {
                        c.fatal_errors += 1;
                        tracing::error!(%error, first, last, "audit shipper: batch refused; retrying after the longest backoff");
                        self.options.max_backoff
                    }
                    DestinationError::Retryable(_) => {
                        tracing::warn!(%error, first, last, "audit shipper: batch not accepted; retrying");
                        backoff.next().unwrap_or(self.options.max_backoff)
                    }
                }
            };
            self.pause(delay).await?;
        };
        let rejected = rejections.indexes(events.len());
        if !rejected.is_empty() {
            let dead = DeadLetters::new(&self.dir);
            while let Err(e) = dead.append(rejected.iter().map(|&i| self.pending[i].text.as_str()))
            {
                tracing::error!(error = %e, "audit shipper: writing dead letters failed; retrying");
                self.pause(self.options.max_backoff).await?;
            }
            let seqs: Vec<u64> = rejected.iter().map(|&i| self.pending[i].seq).collect();
            tracing::warn!(
                count = rejected.len(),
                first_seq = seqs[0],
                last_seq = seqs[seqs.len() - 1],
                "audit shipper: entries rejected by the destination, kept in the dead-letter file"
            );
        }
        let end = self.pending[events.len() - 1].end;
        self.checkpoint.shipped = last;
        self.checkpoint.position = Some(end);
        if let Err(e) = self.checkpoint.store(&self.dir) {
            // Shipping goes on; a restart before the next good checkpoint ships some again.
            tracing::error!(error = %e, "audit shipper: writing the checkpoint failed");
        }
        self.pending.drain(..events.len());
        self.floor = *stamps.last().expect("a batch holds an event");
        {
            let mut c = lock(&self.shared.counters);
            c.shipped += (events.len() - rejected.len()) as u64;
            c.dead_letters += rejected.len() as u64;
            c.batches += 1;
            c.shipped_seq = last;
            c.oldest_unshipped = self.pending.front().map(|l| l.time);
        }
        lock(&self.shared.lag).shipped(last, Instant::now());
        self.shipped.send_replace(last);
        Ok(())
    }
}
