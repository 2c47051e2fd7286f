//! Where the shipper sends batches: [`LogDestination`], PutLogEvents' shape without the SDK, so
//! the shipper is tested in-process with a recording destination and runs on CloudWatch Logs in
//! production (`crate::aws::audit_logs`).

use async_trait::async_trait;

/// One event as PutLogEvents takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// ms since the Unix epoch: the entry's time (never earlier than the event before it).
    pub timestamp_ms: i64,
    /// The spool line exactly, without its newline.
    pub message: String,
}

/// The events of an accepted batch the destination refused, as CloudWatch reports them
/// (`rejectedLogEventsInfo`): `too_old_end` and `expired_end` are the index of the *last* event
/// too old / older than the group's retention, `too_new_start` the index of the first event too
/// far in the future (events are in chronological order, so the rejected ones are a head and a
/// tail of the batch).
///
/// AWS documents the end indexes as "the index of the last log event that is too old … This
/// field is exclusive", which reads both ways; moto reports the last rejected index. The
/// shipper takes the end indexes as inclusive: at worst one event CloudWatch kept is also in
/// the local dead-letter file, never one event in neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejections {
    pub too_old_end: Option<usize>,
    pub too_new_start: Option<usize>,
    pub expired_end: Option<usize>,
}

impl Rejections {
    /// The rejected indexes of a batch of `len` events, ascending.
    pub fn indexes(&self, len: usize) -> Vec<usize> {
        let head = [self.too_old_end, self.expired_end]
            .into_iter()
            .flatten()
            .map(|last| (last + 1).min(len))
            .max()
            .unwrap_or(0);
        let from = self.too_new_start.unwrap_or(len).clamp(head, len);
        (0..head).chain(from..len).collect()
    }
}

/// Why a batch was not accepted. Neither carries event content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Throttling, a 5xx, a timeout, a broken connection: try the same batch again later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Refused for a reason retrying will not fix by itself (permissions, a missing log group).
    /// The shipper still keeps the batch and tries again after its longest backoff, so fixing
    /// the cause resumes shipping without a restart.
    #[error("fatal: {0}")]
    Fatal(String),
}

#[async_trait]
pub trait LogDestination: Send + Sync + 'static {
    /// Puts one batch (within PutLogEvents' limits, in chronological order) into `stream`,
    /// creating the stream first if needed.
    async fn put(&self, stream: &str, events: &[LogEvent]) -> Result<Rejections, DestinationError>;
}
