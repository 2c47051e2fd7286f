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
/// (`rejectedLogEventsInfo`): indexes below `too_old_end` were too old, below `expired_end`
/// older than the group's retention, from `too_new_start` on too far in the future.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rejections {
    pub too_old_end: Option<usize>,
    pub too_new_start: Option<usize>,
    pub expired_end: Option<usize>,
}

impl Rejections {
    /// The rejected indexes of a batch of `len` events, ascending.
    pub fn indexes(&self, len: usize) -> Vec<usize> {
        let below = self
            .too_old_end
            .unwrap_or(0)
            .max(self.expired_end.unwrap_or(0))
            .min(len);
        let from = self.too_new_start.unwrap_or(len).clamp(below, len);
        (0..below).chain(from..len).collect()
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
