//! The durable local spool: audit entries group-committed to a JSONL file with a hash chain.
//!
//! Callers send `(event, ack)` over a bounded channel (back-pressure) to one writer. The writer
//! takes everything queued (up to `max_batch` entries or [`MAX_BATCH_BYTES`]), gives each event
//! its id, seq, time, prev and hash in queue order (the chain order), serialises the batch into
//! one reused buffer, writes it with one positional write at the end of the data, calls
//! `fdatasync` once, and only then acks every caller of the batch. While one `fdatasync` runs the
//! next batch queues up, so the number of syncs falls as load rises.
//!
//! # Writing into prepared space
//! `fdatasync` after an append is slow (ext4: ~4 ms here), because the file's size changes and
//! the journal has to commit; overwriting blocks that already exist only flushes data (~0.1 ms).
//! So a second thread, the *preallocator*, keeps at least `prealloc_ahead` bytes of real zeros
//! (written and synced, not `fallocate`d: unwritten extents would need a metadata update on
//! first write) beyond the end of the data, adding `prealloc_step` at a time in pieces of
//! `prealloc_piece` (each written and synced on its own, which bounds the dirty zeros a
//! concurrent batch sync may have to flush along). The writer only writes below `ready`, the end
//! of that prepared space; the preallocator only writes at or beyond it, holding `extending`.
//! If a batch does not fit, the writer takes `extending` itself and writes past the end (correct,
//! just as slow as an append); `prealloc_ahead = 0` makes that the rule.
//!
//! The file is therefore the chain followed by NUL padding: the *logical end* is the end of the
//! last complete line. A clean close truncates the file to it, so a closed spool is plain JSONL;
//! a crashed one keeps its padding, which [`super::chain::Verifier`] accepts.
//!
//! The writer is a dedicated OS thread using `blocking_recv`, not a tokio task with
//! `spawn_blocking`: it spends its life in blocking `write`/`fdatasync` calls, so a long-lived
//! thread that owns the buffer and the chain head avoids a hand-off per batch, never occupies a
//! slot of tokio's blocking pool, and needs no runtime to exist when the spool opens.
//!
//! If a write fails, every caller in that batch gets [`AuditError::Io`], the bytes the batch may
//! have left are overwritten with zeros (and synced) so no partial line breaks the chain, and the
//! chain head is not advanced: the next batch writes from the same logical end. If even the
//! zeroing fails, the next batch retries it before writing.
//!
//! A failed *sync* is different: the kernel may already have dropped the dirty pages and reports
//! the error once, to whichever thread syncs first, so no later sync proves anything. Any failed
//! sync, the writer's or the preallocator's, *poisons* the spool: the batch's callers get the
//! error, every later `record` gets [`AuditError::Poisoned`], and [`AuditSink::ready`] says why
//! (so `/readyz` fails) until the process is restarted on a checked disk.
//!
//! `record` waits at most `write_timeout` for its entry to be durable, then answers
//! [`AuditError::Timeout`]; the entry may still land later, but no answer relies on it.
//!
//! # Segments
//! Once the active file holds `segment_bytes`, the writer closes it cleanly (no padding), renames
//! it to the next numbered segment and opens a new active file; the chain runs on (see
//! [`super::segments`]). A new or empty active file continues the chain from the last numbered
//! segment. Every event is cut to bounded size first ([`AuditEvent::bounded`]).
//!
//! # Recovery
//! On open, the end of the content is found by scanning back over the NUL padding. Blocks
//! overwritten in place can reach the disk in any order, so a crash during the last (unacked)
//! batch may leave a NUL hole in it: within the last [`TAIL_WINDOW`] bytes, the logical end is
//! the last newline before the first NUL. Whatever follows it (a torn line, the rest of a torn
//! batch) is overwritten with zeros, with a warning that names no data. The chain continues from
//! the last complete line; only that line is read, so start-up does not grow with the file
//! ([`super::chain::verify_file`] checks the whole chain). A damaged last complete line refuses
//! the open rather than guess. The file is `0600` and locked against a second writer.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use super::chain::ChainHead;
use super::recovery::{Recovered, head_at, recover, rfind, zero};
use super::{AuditError, AuditEvent, AuditReceipt, AuditSink, segments};

/// The writer stops adding entries to a batch once it holds this many bytes. This bounds how much
/// of the file one unsynced batch can span, and so how far back recovery looks for a hole.
pub const MAX_BATCH_BYTES: usize = 1 << 20;

/// How far back from the end of the content recovery looks for a NUL hole left by a torn batch:
/// well beyond one batch (at most [`MAX_BATCH_BYTES`] plus one entry).
pub const TAIL_WINDOW: u64 = 4 << 20;

#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// `fdatasync` each batch before acking it. Only tests and benchmarks turn this off.
    pub fsync: bool,
    /// At most this many entries per write and sync.
    pub max_batch: usize,
    /// Events waiting for the writer before `record` waits for room.
    pub queue: usize,
    /// Bytes of zeros, written and synced, kept ready beyond the end of the data. `0` turns
    /// preallocation off: every batch then extends the file itself, like an append.
    pub prealloc_ahead: u64,
    /// Once the ready space falls below `prealloc_ahead`, the preallocator adds this much more.
    pub prealloc_step: u64,
    /// The preallocator writes and syncs zeros in pieces of this many bytes.
    pub prealloc_piece: usize,
    /// Stamps each entry's time.
    pub clock: crate::clock::Clock,
    /// Once the active file holds this many bytes, it becomes the next numbered segment and a
    /// new active file starts (see [`super::segments`]). `0`: never rotate.
    pub segment_bytes: u64,
    /// How long `record` waits for its entry to be durable before it answers
    /// [`AuditError::Timeout`] (the entry may still be written later).
    pub write_timeout: Duration,
    /// Below this many free bytes on the spool's filesystem, [`AuditSink::ready`] says not
    /// ready (entries are still written). `0`: no watermark.
    pub min_free_bytes: u64,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            fsync: true,
            max_batch: 4096,
            queue: 16 * 1024,
            prealloc_ahead: 32 << 20,
            prealloc_step: 8 << 20,
            prealloc_piece: 1 << 20,
            clock: crate::clock::Clock::system(),
            segment_bytes: 64 << 20,
            write_timeout: Duration::from_secs(2),
            min_free_bytes: 0,
        }
    }
}

/// Buckets of the sync-duration histograms in [`SpoolStats`].
pub const SYNC_BUCKETS: usize = 16;

/// Counters since open, for benchmarks and health checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Entries written and acked as durable.
    pub entries: u64,
    /// Batches written.
    pub batches: u64,
    /// `fdatasync` calls for batches.
    pub fsyncs: u64,
    /// Batches whose write or sync failed (their callers got errors).
    pub failed_batches: u64,
    /// Pieces of zeros the preallocator wrote and synced ahead of the data.
    pub extensions: u64,
    /// Batches that found too little ready space and extended the file themselves.
    pub writer_extensions: u64,
    /// Batch syncs by duration: bucket `i` counts syncs of `[2^i, 2^(i+1))` µs (the first
    /// bucket also counts faster ones, the last slower ones).
    pub sync_us: [u64; SYNC_BUCKETS],
    /// The same for the batch syncs that overlapped a preallocator piece.
    pub sync_us_during_extension: [u64; SYNC_BUCKETS],
    /// The slowest batch sync, in µs.
    pub sync_max_us: u64,
}

impl SpoolStats {
    /// An upper bound (the bucket's end, in µs) of the `q` quantile of a sync histogram.
    pub fn quantile_us(histogram: &[u64; SYNC_BUCKETS], q: f64) -> u64 {
        let total: u64 = histogram.iter().sum();
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in histogram.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return 2 << i;
            }
        }
        0
    }
}

#[derive(Debug, Default)]
struct Counters {
    entries: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    failed_batches: AtomicU64,
    extensions: AtomicU64,
    writer_extensions: AtomicU64,
    sync_us: [AtomicU64; SYNC_BUCKETS],
    sync_us_during_extension: [AtomicU64; SYNC_BUCKETS],
    sync_max_us: AtomicU64,
}

impl Counters {
    fn record_sync(&self, took: Duration, during_extension: bool) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = (us.max(1).ilog2() as usize).min(SYNC_BUCKETS - 1);
        self.sync_us[bucket].fetch_add(1, Ordering::Relaxed);
        if during_extension {
            self.sync_us_during_extension[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.sync_max_us.fetch_max(us, Ordering::Relaxed);
    }
}

type Ack = oneshot::Sender<Result<AuditReceipt, AuditError>>;

#[allow(
    clippy::large_enum_variant,
    reason = "Close is sent once; boxing every event would cost an allocation per record"
)]
enum Command {
    Record(AuditEvent, Ack),
    Close(oneshot::Sender<()>),
}

/// A local, group-committed, hash-chained audit spool. See the module documentation.
pub struct Spool {
    tx: mpsc::Sender<Command>,
    closed: AtomicBool,
    counters: Arc<Counters>,
    health: Arc<Health>,
    write_timeout: Duration,
    min_free_bytes: u64,
    path: PathBuf,
    /// The last durable seq, sent by the writer after each synced batch.
    durable: Arc<watch::Sender<u64>>,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("path", &self.path)
            .field("closed", &self.closed)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// Opens (or creates, with its parent directories) the spool at `path` and starts its writer
    /// and, unless `prealloc_ahead` is 0, its preallocator.
    pub fn open(path: PathBuf, options: SpoolOptions) -> Result<Spool, AuditError> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            fs::create_dir_all(parent)?;
        }
        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        let health = Arc::new(Health::default());
        #[cfg(test)]
        let faults = Arc::new(faults::Faults::default());
        let segment = Segment::open(
            &path,
            &options,
            &counters,
            &health,
            #[cfg(test)]
            &faults,
        )?;
        let numbered = segments::list(&path)?;
        let mut head = segment.recovered.head.clone();
        if segment.recovered.logical_end == 0 {
            // A new active file: the chain continues from the last rotated segment with entries.
            for (_, last) in numbered.iter().rev() {
                let file = File::open(last)?;
                let end = rfind(&file, file.metadata()?.len(), |b| b != 0)?.map_or(0, |i| i + 1);
                if end > 0 {
                    head = head_at(&file, end, last)?;
                    break;
                }
            }
        }
        let durable = Arc::new(watch::Sender::new(head.next_seq - 1));
        let writer = Writer {
            durable: durable.clone(),
            len: segment.recovered.logical_end,
            dirty_end: segment.recovered.logical_end,
            shared: Some(segment.shared),
            preallocator: segment.preallocator,
            head,
            path: path.clone(),
            next_segment: numbered.last().map_or(1, |(n, _)| n + 1),
            options: options.clone(),
            fsync: options.fsync,
            prealloc_ahead: options.prealloc_ahead,
            max_batch: options.max_batch.max(1),
            counters: counters.clone(),
            clock: options.clock,
            health: health.clone(),
            #[cfg(test)]
            faults: faults.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("audit-spool".into())
            .spawn(move || writer.run(rx));
        // On failure the writer (dropped with the closure) stops its preallocator.
        spawned?;
        Ok(Spool {
            tx,
            closed: AtomicBool::new(false),
            counters,
            health,
            write_timeout: options.write_timeout,
            min_free_bytes: options.min_free_bytes,
            path,
            durable,
            #[cfg(test)]
            faults,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq of the last entry that is durable (synced), `0` while the chain is empty: it
    /// changes after every synced batch, so a shipper wakes when there is something to ship.
    /// Its sender is dropped once the spool is closed and every handle is gone.
    pub fn durable(&self) -> watch::Receiver<u64> {
        self.durable.subscribe()
    }

    pub fn stats(&self) -> SpoolStats {
        let c = &self.counters;
        let load = |a: &[AtomicU64; SYNC_BUCKETS]| a.each_ref().map(|n| n.load(Ordering::Relaxed));
        SpoolStats {
            entries: c.entries.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            extensions: c.extensions.load(Ordering::Relaxed),
            writer_extensions: c.writer_extensions.load(Ordering::Relaxed),
            sync_us: load(&c.sync_us),
            sync_us_during_extension: load(&c.sync_us_during_extension),
            sync_max_us: c.sync_max_us.load(Ordering::Relaxed),
        }
    }

    /// Makes the next batch fail (tests only).
    #[cfg(test)]
    pub(crate) fn inject_fault(&self, fault: faults::Fault) {
        self.faults.arm(fault);
    }
}

#[async_trait]
impl AuditSink for Spool {
    fn ready(&self) -> Result<(), String> {
        if let Some(why) = self.health.poisoned() {
            return Err(format!(
                "the audit spool stopped after a failed sync ({why}); check the disk and restart"
            ));
        }
        if self.closed.load(Ordering::Acquire) || self.tx.is_closed() {
            return Err("the audit spool is closed".into());
        }
        if self.min_free_bytes > 0 {
            let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty());
            match free_bytes(dir.unwrap_or(Path::new("."))) {
                Ok(free) if free < self.min_free_bytes => {
                    return Err(format!(
                        "the audit directory's filesystem has {} MiB free, below the {} MiB watermark (AUDIT_MIN_FREE_MIB)",
                        free >> 20,
                        self.min_free_bytes >> 20
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("the audit directory's free space is unknown: {e}")),
            }
        }
        Ok(())
    }

    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AuditError::Closed);
        }
        if let Some(why) = self.health.poisoned() {
            return Err(AuditError::Poisoned(why.to_owned()));
        }
        let durable = async {
            let (ack, done) = oneshot::channel();
            self.tx
                .send(Command::Record(event.bounded(), ack))
                .await
                .map_err(|_| AuditError::Closed)?;
            // A dropped ack means the writer is gone: nothing more will be recorded.
            done.await.map_err(|_| AuditError::Closed)?
        };
        match tokio::time::timeout(self.write_timeout, durable).await {
            Ok(result) => result,
            Err(_) => Err(AuditError::Timeout(self.write_timeout)),
        }
    }

    /// Writes and syncs everything queued before it, cuts the file back to its logical end,
    /// releases it, and refuses later events.
    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// Whether the spool may still acknowledge anything. A failed sync, on any thread, poisons it
/// for good: after a failed `fsync` the kernel may have dropped the dirty pages and reports the
/// error only once, so no later sync can prove that anything written before it is on disk.
#[derive(Debug, Default)]
struct Health {
    poisoned: std::sync::OnceLock<String>,
}

impl Health {
    fn poison(&self, what: &str, error: &io::Error) {
        let why = format!("{what}: {error}");
        if self.poisoned.set(why).is_ok() {
            tracing::error!(error = %error, what, "audit spool poisoned: nothing more will be acknowledged");
        }
    }

    fn poisoned(&self) -> Option<&str> {
        self.poisoned.get().map(String::as_str)
    }
}

/// The active file, shared with its preallocator, and that thread.
struct Segment {
    shared: Arc<Shared>,
    preallocator: Option<JoinHandle<()>>,
    recovered: Recovered,
}

impl Segment {
    /// Opens (or creates) the active file, recovers its tail and starts its preallocator.
    fn open(
        path: &Path,
        options: &SpoolOptions,
        counters: &Arc<Counters>,
        health: &Arc<Health>,
        #[cfg(test)] faults: &Arc<faults::Faults>,
    ) -> io::Result<Segment> {
        let existed = path.exists();
        let mut open = OpenOptions::new();
        // Not `append`: batches are written at the logical end, inside the prepared space.
        open.read(true).write(true).create(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let file = open.open(path)?;
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                "the audit spool is already open in another writer",
            ),
            fs::TryLockError::Error(e) => e,
        })?;
        let recovered = recover(&file, path)?;
        if !existed {
            // Make the new file's directory entry durable too.
            sync_dir(path)?;
        }
        let shared = Arc::new(Shared {
            file,
            ready: AtomicU64::new(recovered.physical_end),
            data_end: AtomicU64::new(recovered.logical_end),
            extending: Mutex::new(()),
            extension_epoch: AtomicU64::new(0),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            fsync: options.fsync,
            counters: counters.clone(),
            health: health.clone(),
            #[cfg(test)]
            faults: faults.clone(),
        });
        let preallocator = if options.prealloc_ahead > 0 {
            let shared = shared.clone();
            let options = options.clone();
            let spawned = std::thread::Builder::new()
                .name("audit-prealloc".into())
                .spawn(move || preallocate(&shared, &options));
            Some(spawned?)
        } else {
            None
        };
        Ok(Segment {
            shared,
            preallocator,
            recovered,
        })
    }
}

/// Bytes an unprivileged writer may still use on the filesystem holding `dir`.
fn free_bytes(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Syncs the directory holding `path`, so a new or renamed entry in it is durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => File::open(parent)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

/// What the writer and the preallocator share.
struct Shared {
    file: File,
    /// Everything below this offset is data or zeros that were written and synced: a batch
    /// written below it changes no metadata. Only grows, and only under `extending`.
    ready: AtomicU64,
    /// The writer's logical end, for the preallocator to keep ahead of.
    data_end: AtomicU64,
    /// Held by whoever writes at or beyond `ready`, so zeros never land on a batch.
    extending: Mutex<()>,
    /// Odd while the preallocator writes or syncs a piece (tells which batch syncs overlapped).
    extension_epoch: AtomicU64,
    /// Set to stop the preallocator; `wake` signals it and changes of `data_end`.
    stop: Mutex<bool>,
    wake: Condvar,
    fsync: bool,
    counters: Arc<Counters>,
    health: Arc<Health>,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state stays consistent even if a holder panicked.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Wakes the preallocator if the ready space ahead of `data_end` is short.
    fn data_written(&self, data_end: u64, ahead: u64) {
        self.data_end.store(data_end, Ordering::Release);
        if self.ready.load(Ordering::Acquire) < data_end.saturating_add(ahead) {
            // Taking the lock orders this with the preallocator's check before it waits.
            let _stop = lock(&self.stop);
            self.wake.notify_one();
        }
    }

    /// Writes and syncs one piece of zeros at `ready`, ending at most at `target`.
    fn extend_piece(&self, zeros: &[u8], target: u64) -> io::Result<()> {
        let _extending = lock(&self.extending);
        let ready = self.ready.load(Ordering::Acquire);
        if ready >= target {
            return Ok(());
        }
        // Pieces end on multiples of the piece size, so they stay aligned after an odd start.
        let piece = zeros.len() as u64;
        let end = target.min((ready / piece + 1) * piece);
        self.extension_epoch.fetch_add(1, Ordering::AcqRel);
        let mut result = self
            .file
            .write_all_at(&zeros[..(end - ready) as usize], ready);
        if result.is_ok() && self.fsync {
            result = self.sync_piece();
            if let Err(e) = &result {
                self.health.poison("preallocation sync failed", e);
            }
        }
        self.extension_epoch.fetch_add(1, Ordering::AcqRel);
        result?;
        self.ready.store(end, Ordering::Release);
        self.counters.extensions.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes a batch at `offset`, inside the ready space if it fits, else extending the file.
    fn write_batch(&self, batch: &[u8], offset: u64) -> io::Result<()> {
        let end = offset + batch.len() as u64;
        if end <= self.ready.load(Ordering::Acquire) {
            return self.write_at(batch, offset);
        }
        let _extending = lock(&self.extending);
        if end <= self.ready.load(Ordering::Acquire) {
            return self.write_at(batch, offset);
        }
        self.counters
            .writer_extensions
            .fetch_add(1, Ordering::Relaxed);
        let result = self.write_at(batch, offset);
        // Even after a failed write: the writer zeroes up to `end` before it writes again, so
        // the preallocator must start beyond it.
        self.ready.fetch_max(end, Ordering::AcqRel);
        result
    }

    fn write_at(&self, batch: &[u8], offset: u64) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.take(faults::Fault::TornWrite) {
            self.file
                .write_all_at(&batch[..batch.len() / 2 + 1], offset)?;
            return Err(io::Error::other("injected write failure"));
        }
        self.file.write_all_at(batch, offset)
    }

    fn sync_piece(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.take(faults::Fault::PreallocSync) {
            return Err(io::Error::other("injected preallocation sync failure"));
        }
        self.file.sync_data()
    }

    fn sync_batch(&self) -> io::Result<()> {
        #[cfg(test)]
        if self.faults.take(faults::Fault::Sync) {
            return Err(io::Error::other("injected sync failure"));
        }
        #[cfg(test)]
        if self.faults.take(faults::Fault::SlowSync) {
            // A disk that takes its time: the caller's deadline passes first.
            std::thread::sleep(Duration::from_millis(300));
        }
        let epoch = self.extension_epoch.load(Ordering::Acquire);
        let started = Instant::now();
        let result = self.file.sync_data();
        let took = started.elapsed();
        let during_extension =
            epoch % 2 == 1 || self.extension_epoch.load(Ordering::Acquire) != epoch;
        self.counters.record_sync(took, during_extension);
        result
    }
}

/// The preallocator thread: keeps `prealloc_ahead` bytes ready beyond the data until stopped.
fn preallocate(shared: &Shared, options: &SpoolOptions) {
    let zeros = vec![0u8; options.prealloc_piece.max(4096)];
    let mut target = 0;
    loop {
        {
            let mut stop = lock(&shared.stop);
            loop {
                if *stop || shared.health.poisoned().is_some() {
                    return;
                }
                let ready = shared.ready.load(Ordering::Acquire);
                let data_end = shared.data_end.load(Ordering::Acquire);
                if ready < target {
                    break;
                }
                if ready < data_end.saturating_add(options.prealloc_ahead) {
                    target = data_end
                        .saturating_add(options.prealloc_ahead)
                        .saturating_add(options.prealloc_step);
                    break;
                }
                stop = shared
                    .wake
                    .wait(stop)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        if let Err(e) = shared.extend_piece(&zeros, target) {
            // Batches still get written (extending the file themselves); try again later.
            tracing::error!(error = %e, "audit spool: preallocation failed; retrying in a second");
            let stop = lock(&shared.stop);
            if *stop {
                return;
            }
            let _ = shared.wake.wait_timeout(stop, Duration::from_secs(1));
        }
    }
}

struct Writer {
    /// `None` once shut down (dropping it closes the file and releases the lock).
    shared: Option<Arc<Shared>>,
    /// The active file, and the number its successor gets when it is rotated.
    path: PathBuf,
    next_segment: u64,
    options: SpoolOptions,
    health: Arc<Health>,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
    preallocator: Option<JoinHandle<()>>,
    /// The logical end: the end of the last committed batch.
    len: u64,
    /// A failed batch may have left bytes in `[len, dirty_end)`, not yet zeroed.
    dirty_end: u64,
    head: ChainHead,
    fsync: bool,
    prealloc_ahead: u64,
    max_batch: usize,
    counters: Arc<Counters>,
    clock: crate::clock::Clock,
    durable: Arc<watch::Sender<u64>>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut buf = Vec::with_capacity(MAX_BATCH_BYTES + (64 << 10));
        let mut waiters: Vec<(Ack, AuditReceipt)> = Vec::with_capacity(self.max_batch.min(1 << 14));
        while let Some(first) = rx.blocking_recv() {
            let mut head = self.head.clone();
            let mut closer = None;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Record(event, ack) => {
                        let id = Uuid::now_v7();
                        let seq = head.append(&mut buf, id, self.clock.now(), &event);
                        waiters.push((ack, AuditReceipt { id, seq }));
                    }
                    Command::Close(ack) => {
                        closer = Some(ack);
                        break;
                    }
                }
                if waiters.len() < self.max_batch && buf.len() < MAX_BATCH_BYTES {
                    next = rx.try_recv().ok();
                }
            }
            if !waiters.is_empty() {
                let committed = match self.health.poisoned() {
                    Some(why) => Err(AuditError::Poisoned(why.to_owned())),
                    None => self.commit(&buf).map_err(AuditError::from),
                };
                match committed {
                    Ok(()) => {
                        self.head = head;
                        self.durable.send_replace(self.head.next_seq - 1);
                        self.counters
                            .entries
                            .fetch_add(waiters.len() as u64, Ordering::Relaxed);
                        self.counters.batches.fetch_add(1, Ordering::Relaxed);
                        for (ack, receipt) in waiters.drain(..) {
                            let _ = ack.send(Ok(receipt));
                        }
                        if self.options.segment_bytes > 0 && self.len >= self.options.segment_bytes
                        {
                            self.rotate();
                        }
                    }
                    Err(e) => {
                        self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                        for (ack, _) in waiters.drain(..) {
                            let _ = ack.send(Err(e.duplicate()));
                        }
                    }
                }
                buf.clear();
            }
            if let Some(closer) = closer {
                self.shut_down(rx, closer);
                return;
            }
        }
        // Every `Spool` handle is gone; everything sent has been handled.
        self.finish();
    }

    fn shared(&self) -> &Shared {
        self.shared
            .as_ref()
            .expect("the file is open until shut down")
    }

    /// Writes one batch at the logical end and syncs it; on failure, zeroes what it wrote.
    fn commit(&mut self, batch: &[u8]) -> io::Result<()> {
        if self.dirty_end > self.len {
            self.cut_back()?;
        }
        let end = self.len + batch.len() as u64;
        self.dirty_end = end;
        let shared = self.shared();
        let mut result = shared.write_batch(batch, self.len);
        if result.is_ok() && self.fsync {
            result = shared.sync_batch();
            self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = &result {
                self.health.poison("batch sync failed", e);
                return result;
            }
        }
        match result {
            Ok(()) => {
                shared.data_written(end, self.prealloc_ahead);
                self.len = end;
                Ok(())
            }
            Err(e) => {
                if let Err(cut) = self.cut_back() {
                    tracing::error!(error = %cut, "audit spool: could not cut back a failed batch; will retry");
                }
                Err(e)
            }
        }
    }

    /// Zeroes (and syncs) whatever a failed batch may have left after the logical end.
    fn cut_back(&mut self) -> io::Result<()> {
        let shared = self.shared();
        zero(&shared.file, self.len, self.dirty_end)?;
        if let Err(e) = shared.file.sync_data() {
            self.health
                .poison("sync after cutting back a failed batch failed", &e);
            return Err(e);
        }
        self.dirty_end = self.len;
        Ok(())
    }

    /// Closes the active file cleanly, renames it to the next numbered segment and starts a new
    /// active file; the chain head carries on. Any failure poisons the spool: the trail has no
    /// file to go on in.
    fn rotate(&mut self) {
        self.finish();
        if self.health.poisoned().is_some() {
            return;
        }
        let rotated = segments::numbered(&self.path, self.next_segment);
        let result = fs::rename(&self.path, &rotated)
            .and_then(|()| sync_dir(&self.path))
            .and_then(|()| {
                Segment::open(
                    &self.path,
                    &self.options,
                    &self.counters,
                    &self.health,
                    #[cfg(test)]
                    &self.faults,
                )
            });
        match result {
            Ok(segment) => {
                self.shared = Some(segment.shared);
                self.preallocator = segment.preallocator;
                self.len = segment.recovered.logical_end;
                self.dirty_end = self.len;
                self.next_segment += 1;
                tracing::info!(segment = %rotated.display(), "audit spool: segment rotated");
            }
            Err(e) => self
                .health
                .poison("could not start a new audit segment", &e),
        }
    }

    /// Finishes, then refuses whatever is still queued.
    fn shut_down(mut self, mut rx: mpsc::Receiver<Command>, closer: oneshot::Sender<()>) {
        self.finish();
        rx.close();
        let mut closers = vec![closer];
        while let Ok(command) = rx.try_recv() {
            match command {
                Command::Record(_, ack) => {
                    let _ = ack.send(Err(AuditError::Closed));
                }
                Command::Close(ack) => closers.push(ack),
            }
        }
        for closer in closers {
            let _ = closer.send(());
        }
    }

    /// Stops the preallocator, cuts the file back to its logical end (no padding), syncs it and
    /// releases it (and its lock).
    fn finish(&mut self) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        *lock(&shared.stop) = true;
        shared.wake.notify_all();
        if let Some(preallocator) = self.preallocator.take() {
            let _ = preallocator.join();
        }
        let result = shared
            .file
            .set_len(self.len)
            .and_then(|()| shared.file.sync_all());
        if let Err(e) = result {
            self.health.poison("closing the audit file failed", &e);
        }
        self.dirty_end = self.len;
        self.shared = None;
    }
}

impl Drop for Writer {
    /// Stops the preallocator if the writer never ran (its thread failed to start).
    fn drop(&mut self) {
        if let Some(shared) = self.shared.as_ref() {
            *lock(&shared.stop) = true;
            shared.wake.notify_all();
        }
    }
}

/// Failure injection for tests: the next batch fails in the armed way.
#[cfg(test)]
pub(crate) mod faults {
    use std::sync::atomic::{AtomicU8, Ordering};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[repr(u8)]
    pub(crate) enum Fault {
        /// Write about half the batch, then fail.
        TornWrite = 1,
        /// Write the batch, then fail the sync.
        Sync = 2,
        /// The preallocator's next sync fails.
        PreallocSync = 3,
        /// The next batch sync takes 300 ms.
        SlowSync = 4,
    }

    #[derive(Debug, Default)]
    pub(crate) struct Faults(AtomicU8);

    impl Faults {
        pub(crate) fn arm(&self, fault: Fault) {
            self.0.store(fault as u8, Ordering::SeqCst);
        }

        pub(crate) fn take(&self, fault: Fault) -> bool {
            self.0
                .compare_exchange(fault as u8, 0, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        }
    }
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "spool_bench.rs"]
mod bench;
