//! The durable local spool: audit entries group-committed to a JSONL file with a hash chain.
//!
//! Callers send `(event, ack)` over a bounded channel (back-pressure) to one writer. The writer
//! takes everything queued (up to `max_batch`), gives each event its id, seq, time, prev and hash
//! in queue order (the chain order), serialises the batch into one reused buffer, writes it with
//! one `write_all`, calls `fdatasync` once, and only then acks every caller of the batch. While
//! one `fdatasync` runs the next batch queues up, so the number of syncs falls as load rises.
//!
//! The writer is a dedicated OS thread using `blocking_recv`, not a tokio task with
//! `spawn_blocking`: it spends its life in blocking `write`/`fdatasync` calls, so a long-lived
//! thread that owns the file, the buffer and the chain head avoids a hand-off per batch, never
//! occupies a slot of tokio's blocking pool, and needs no runtime to exist when the spool opens.
//!
//! If a write or sync fails, every caller in that batch gets [`AuditError::Io`], the file is cut
//! back to its last good length (and synced) so no partial line breaks the chain, and the chain
//! head is not advanced. If even that cut fails, the next batch retries it before writing.
//!
//! On open, the tail of an existing file gives the chain head (only the last line is read, so
//! start-up does not grow with the file; [`super::chain::verify_file`] checks the whole chain).
//! A torn final line (no newline, from a crash mid-write) is cut away; a damaged last complete
//! line refuses the open rather than guess. The file is `0600` and locked against a second
//! writer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::chain::{ChainHead, chain_hash, parse_line};
use super::{AuditError, AuditEvent, AuditReceipt, AuditSink};

#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// `fdatasync` each batch before acking it. Only tests and benchmarks turn this off.
    pub fsync: bool,
    /// At most this many entries per write and sync.
    pub max_batch: usize,
    /// Events waiting for the writer before `record` waits for room.
    pub queue: usize,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            fsync: true,
            max_batch: 4096,
            queue: 16 * 1024,
        }
    }
}

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
}

#[derive(Debug, Default)]
struct Counters {
    entries: AtomicU64,
    batches: AtomicU64,
    fsyncs: AtomicU64,
    failed_batches: AtomicU64,
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
    path: PathBuf,
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
    /// Opens (or creates, with its parent directories) the spool at `path` and starts its writer.
    pub fn open(path: PathBuf, options: SpoolOptions) -> Result<Spool, AuditError> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            fs::create_dir_all(parent)?;
        }
        let existed = path.exists();
        let mut open = OpenOptions::new();
        open.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
        let mut file = open.open(&path)?;
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                "the audit spool is already open in another writer",
            ),
            fs::TryLockError::Error(e) => e,
        })?;
        let (head, len) = recover(&mut file, &path)?;
        if !existed && let Some(parent) = parent {
            // Make the new file's directory entry durable too.
            File::open(parent)?.sync_all()?;
        }

        let (tx, rx) = mpsc::channel(options.queue.max(1));
        let counters = Arc::new(Counters::default());
        #[cfg(test)]
        let faults = Arc::new(faults::Faults::default());
        let writer = Writer {
            file: Some(file),
            len,
            dirty: false,
            head,
            fsync: options.fsync,
            max_batch: options.max_batch.max(1),
            counters: counters.clone(),
            #[cfg(test)]
            faults: faults.clone(),
        };
        std::thread::Builder::new()
            .name("audit-spool".into())
            .spawn(move || writer.run(rx))?;
        Ok(Spool {
            tx,
            closed: AtomicBool::new(false),
            counters,
            path,
            #[cfg(test)]
            faults,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> SpoolStats {
        let c = &self.counters;
        SpoolStats {
            entries: c.entries.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
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
        if self.closed.load(Ordering::Acquire) || self.tx.is_closed() {
            return Err("the audit spool is closed".into());
        }
        Ok(())
    }

    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(AuditError::Closed);
        }
        let (ack, done) = oneshot::channel();
        self.tx
            .send(Command::Record(event, ack))
            .await
            .map_err(|_| AuditError::Closed)?;
        // A dropped ack means the writer is gone: nothing more will be recorded.
        done.await.map_err(|_| AuditError::Closed)?
    }

    /// Writes and syncs everything queued before it, releases the file, and refuses later events.
    async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let (ack, done) = oneshot::channel();
        if self.tx.send(Command::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

struct Writer {
    file: Option<File>,
    /// Length of the file up to the last committed batch.
    len: u64,
    /// A failed batch may have left bytes past `len`, not yet cut away.
    dirty: bool,
    head: ChainHead,
    fsync: bool,
    max_batch: usize,
    counters: Arc<Counters>,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let mut buf = Vec::with_capacity(1 << 20);
        let mut waiters: Vec<(Ack, AuditReceipt)> = Vec::with_capacity(self.max_batch.min(1 << 14));
        while let Some(first) = rx.blocking_recv() {
            let mut head = self.head.clone();
            let mut closer = None;
            let mut next = Some(first);
            while let Some(command) = next.take() {
                match command {
                    Command::Record(event, ack) => {
                        let id = Uuid::now_v7();
                        let seq = head.append(&mut buf, id, Timestamp::now(), &event);
                        waiters.push((ack, AuditReceipt { id, seq }));
                    }
                    Command::Close(ack) => {
                        closer = Some(ack);
                        break;
                    }
                }
                if waiters.len() < self.max_batch {
                    next = rx.try_recv().ok();
                }
            }
            if !waiters.is_empty() {
                match self.commit(&buf) {
                    Ok(()) => {
                        self.head = head;
                        self.counters
                            .entries
                            .fetch_add(waiters.len() as u64, Ordering::Relaxed);
                        self.counters.batches.fetch_add(1, Ordering::Relaxed);
                        for (ack, receipt) in waiters.drain(..) {
                            let _ = ack.send(Ok(receipt));
                        }
                    }
                    Err(e) => {
                        self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                        for (ack, _) in waiters.drain(..) {
                            let _ = ack.send(Err(io::Error::new(e.kind(), e.to_string()).into()));
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

    /// Writes one batch and syncs it; on failure, cuts the file back to its last good length.
    fn commit(&mut self, batch: &[u8]) -> io::Result<()> {
        if self.dirty {
            self.cut_back()?;
        }
        let file = self
            .file
            .as_mut()
            .expect("the file is open until shut down");
        let mut result = write_batch(
            file,
            batch,
            #[cfg(test)]
            &self.faults,
        );
        if result.is_ok() && self.fsync {
            result = sync_batch(
                file,
                #[cfg(test)]
                &self.faults,
            );
            self.counters.fsyncs.fetch_add(1, Ordering::Relaxed);
        }
        match result {
            Ok(()) => {
                self.len += batch.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.dirty = true;
                if let Err(cut) = self.cut_back() {
                    tracing::error!(error = %cut, "audit spool: could not cut back a failed batch; will retry");
                }
                Err(e)
            }
        }
    }

    fn cut_back(&mut self) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .expect("the file is open until shut down");
        file.set_len(self.len)?;
        file.sync_data()?;
        self.dirty = false;
        Ok(())
    }

    /// Syncs, releases the file (and its lock), then refuses whatever is still queued.
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

    fn finish(&mut self) {
        if self.dirty
            && let Err(e) = self.cut_back()
        {
            tracing::error!(error = %e, "audit spool: could not cut back a failed batch at close");
        }
        if let Some(file) = self.file.take()
            && let Err(e) = file.sync_data()
        {
            tracing::error!(error = %e, "audit spool: final sync failed");
        }
    }
}

fn write_batch(
    file: &mut File,
    batch: &[u8],
    #[cfg(test)] faults: &faults::Faults,
) -> io::Result<()> {
    #[cfg(test)]
    if faults.take(faults::Fault::TornWrite) {
        file.write_all(&batch[..batch.len() / 2 + 1])?;
        return Err(io::Error::other("injected write failure"));
    }
    file.write_all(batch)
}

fn sync_batch(file: &mut File, #[cfg(test)] faults: &faults::Faults) -> io::Result<()> {
    #[cfg(test)]
    if faults.take(faults::Fault::Sync) {
        return Err(io::Error::other("injected sync failure"));
    }
    file.sync_data()
}

/// Reads the chain head from the file's last complete line and cuts away a torn tail.
/// Returns the head and the file's good length.
fn recover(file: &mut File, path: &Path) -> io::Result<(ChainHead, u64)> {
    let len = file.metadata()?.len();
    let mut window = len.min(64 * 1024);
    let (good_len, last_line) = loop {
        let start = len - window;
        let mut tail = vec![0; window as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut tail)?;
        let complete = |tail: &[u8]| {
            let end = tail.iter().rposition(|&b| b == b'\n')?;
            let begin = tail[..end].iter().rposition(|&b| b == b'\n').map(|i| i + 1);
            Some((begin, end))
        };
        match complete(&tail) {
            // No complete line in the whole file.
            None if start == 0 => break (0, None),
            Some((begin, end)) if begin.is_some() || start == 0 => {
                let begin = begin.unwrap_or(0);
                break (start + end as u64 + 1, Some(tail[begin..end].to_vec()));
            }
            // The last line starts before the window.
            _ => window = (window * 2).min(len),
        }
    };
    let head = match last_line {
        None => ChainHead::default(),
        Some(line) => {
            let damaged = |why: String| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the last entry of audit spool {} is damaged ({why}); verify it before writing",
                        path.display()
                    ),
                )
            };
            let entry = parse_line(&line).map_err(|r| damaged(r.to_string()))?;
            if chain_hash(&entry.prev, &entry.body_bytes()) != entry.hash.as_bytes() {
                return Err(damaged("hash mismatch".into()));
            }
            ChainHead::after(&entry)
        }
    };
    if good_len < len {
        tracing::warn!(
            spool = %path.display(),
            torn_bytes = len - good_len,
            "audit spool: cutting away a torn final line left by an interrupted write"
        );
        file.set_len(good_len)?;
        file.sync_data()?;
    }
    Ok((head, good_len))
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
