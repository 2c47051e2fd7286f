//! Denied requests under a flood. A stranger can send as many unauthenticated requests as the
//! network carries, and each is audited; written one entry each, they would fill the disk.
//! [`Denials`] wraps the audit sink: per source (IP) and second, the first denied authentication
//! is written as usual (at once, with its own reason), the rest are only counted, and the count
//! is written as one `denied` entry (reason `count: N …`) when that second is over
//! (at the next denial from the source, or at the latest by the once-a-second sweep). Across all
//! sources at most [`WRITTEN_PER_SECOND_IN_ALL`] are written one by one per second, and at most
//! [`MAX_SOURCES`] sources are tracked at once: beyond either, denials are counted in one window
//! shared by all sources (the address may be spoofed through `X-Forwarded-For`). Every other
//! event passes straight through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{AuditAction, AuditError, AuditEvent, AuditOutcome, AuditReceipt, AuditSink};

/// Denied authentications written one by one per source and second before they are counted:
/// one entry for the first, one with the count of the rest.
pub const WRITTEN_PER_SECOND: u32 = 1;
/// Denied authentications written one by one per second across all sources (the source address
/// may be spoofed through `X-Forwarded-For`); beyond it, denials are only counted, in a window
/// shared by all sources, so a flood writes at most about this many entries a second plus
/// one count per flooded window.
pub const WRITTEN_PER_SECOND_IN_ALL: u32 = 20;
/// Sources with a window open at once; the rest share one window.
pub const MAX_SOURCES: usize = 4096;
const WINDOW: Duration = Duration::from_secs(1);
/// The window of requests without a known source, or beyond [`MAX_SOURCES`].
const OTHERS: &str = "";

struct Window {
    started: Instant,
    written: u32,
    /// The receipt of the window's first entry, given to the counted ones.
    first: Option<AuditReceipt>,
    counted: u64,
    /// The last counted event, which the aggregate entry is made from.
    last: Option<AuditEvent>,
    /// The window of no one source (see [`OTHERS`]).
    shared: bool,
}

impl Window {
    /// The entry that stands for the counted denials, if any.
    fn aggregate(&mut self) -> Option<AuditEvent> {
        let mut event = self.last.take()?;
        let counted = std::mem::take(&mut self.counted);
        let last = event.reason.take().unwrap_or_default();
        event.reason = Some(format!(
            "count: {counted} more denied requests from this source within one second, aggregated (last reason: {last})"
        ));
        event.request_id = None;
        if self.shared {
            event.source_ip = None;
        }
        Some(event)
    }
}

/// An [`AuditSink`] that aggregates floods of denied authentications. See the module docs.
pub struct Denials {
    inner: Arc<dyn AuditSink>,
    windows: Mutex<(HashMap<String, Window>, Option<Global>)>,
}

/// The start of the current second and the denials written in it, across all sources.
#[derive(Debug)]
struct Global {
    started: Instant,
    written: u32,
}

fn is_denied_authentication(event: &AuditEvent) -> bool {
    event.action == AuditAction::Authenticate && event.outcome == AuditOutcome::Denied
}

impl Denials {
    /// Wraps `inner`; inside a tokio runtime, also starts the sweep that writes the counts of
    /// seconds that are over (it stops when the `Denials` is dropped).
    pub fn new(inner: Arc<dyn AuditSink>) -> Arc<Self> {
        let this = Arc::new(Self {
            inner,
            windows: Mutex::default(),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&this);
            runtime.spawn(sweep(weak));
        }
        this
    }

    fn windows(&self) -> std::sync::MutexGuard<'_, (HashMap<String, Window>, Option<Global>)> {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the counts of every window that is over (all of them if `all`) and forgets them.
    pub async fn flush(&self, all: bool) {
        let now = Instant::now();
        let due: Vec<AuditEvent> = {
            let mut guard = self.windows();
            let mut due = Vec::new();
            guard.0.retain(|_, w| {
                if all || now.duration_since(w.started) >= WINDOW {
                    due.extend(w.aggregate());
                    false
                } else {
                    true
                }
            });
            due
        };
        for event in due {
            if let Err(e) = self.inner.record(event).await {
                tracing::error!(error = %e, "audit entry for aggregated denials failed");
            }
        }
    }

    /// What to do with a denial, decided under the lock.
    fn decide(&self, event: AuditEvent, now: Instant) -> Decision {
        let mut guard = self.windows();
        let (windows, global) = &mut *guard;
        let global = match global {
            Some(g) if now.duration_since(g.started) < WINDOW => g,
            _ => global.insert(Global {
                started: now,
                written: 0,
            }),
        };
        let mut key = event.source_ip.clone().unwrap_or_default();
        if global.written >= WRITTEN_PER_SECOND_IN_ALL
            || (!windows.contains_key(&key) && windows.len() >= MAX_SOURCES)
        {
            key = OTHERS.to_owned();
            // Only counted: the shared window writes nothing but its count.
            windows.entry(key.clone()).or_insert_with(|| Window {
                started: now,
                written: WRITTEN_PER_SECOND,
                first: None,
                counted: 0,
                last: None,
                shared: true,
            });
        }
        let over = match windows.get_mut(&key) {
            Some(w) if now.duration_since(w.started) < WINDOW => {
                if w.written >= WRITTEN_PER_SECOND {
                    w.counted += 1;
                    w.last = Some(event);
                    return Decision::Counted(w.first.clone().unwrap_or(AuditReceipt {
                        id: uuid::Uuid::nil(),
                        seq: 0,
                    }));
                }
                w.written += 1;
                global.written += 1;
                return Decision::Write(event);
            }
            // A second that is over: its count is written before this denial.
            Some(w) => w.aggregate(),
            None => None,
        };
        let window = Window {
            started: now,
            written: 1,
            first: None,
            counted: 0,
            last: None,
            shared: key == OTHERS,
        };
        global.written += 1;
        windows.insert(key.clone(), window);
        Decision::Open { key, over, event }
    }

    async fn record_denial(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        match self.decide(event, Instant::now()) {
            Decision::Counted(receipt) => Ok(receipt),
            Decision::Write(event) => self.inner.record(event).await,
            Decision::Open { key, over, event } => {
                if let Some(aggregate) = over
                    && let Err(e) = self.inner.record(aggregate).await
                {
                    tracing::error!(error = %e, "audit entry for aggregated denials failed");
                }
                let receipt = self.inner.record(event).await?;
                if let Some(w) = self.windows().0.get_mut(&key) {
                    w.first.get_or_insert_with(|| receipt.clone());
                }
                Ok(receipt)
            }
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "decided once per denial and consumed at once; boxing would allocate per denial"
)]
enum Decision {
    /// Counted into the window; the receipt of its first entry.
    Counted(AuditReceipt),
    /// Written as usual, inside the window's allowance.
    Write(AuditEvent),
    /// The first of a new window, after the count of the one that is over (if any).
    Open {
        key: String,
        over: Option<AuditEvent>,
        event: AuditEvent,
    },
}

async fn sweep(denials: Weak<Denials>) {
    let mut tick = tokio::time::interval(WINDOW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(denials) = denials.upgrade() else {
            return;
        };
        denials.flush(false).await;
    }
}

#[async_trait]
impl AuditSink for Denials {
    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        if is_denied_authentication(&event) {
            self.record_denial(event).await
        } else {
            self.inner.record(event).await
        }
    }

    /// Writes every pending count, then closes the inner sink.
    async fn close(&self) {
        self.flush(true).await;
        self.inner.close().await;
    }

    fn ready(&self) -> Result<(), String> {
        self.inner.ready()
    }
}

#[cfg(test)]
#[path = "denials_tests.rs"]
mod tests;
