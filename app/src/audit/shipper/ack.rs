//! `AUDIT_ACK=cloudwatch`: an [`AuditSink`] whose `record` returns only once the destination
//! accepted the entry, not when it is durable in the local spool. Concurrent calls share one
//! PutLogEvents: the shipper wakes on the spool's synced batch and ships everything durable in
//! one call, so they are group-committed twice (one fsync, one put).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;

use crate::audit::{AuditError, AuditEvent, AuditReceipt, AuditSink, Spool};

/// The spool, acknowledging only what the shipper's destination accepted.
pub struct AckedSpool {
    spool: Arc<Spool>,
    shipped: watch::Receiver<u64>,
    timeout: Duration,
}

impl AckedSpool {
    /// `shipped` is [`super::Shipper::shipped`] of the shipper of `spool`. A `record` that is
    /// not accepted within `timeout` (after it is durable) answers [`AuditError::Timeout`]; the
    /// entry stays in the spool and is shipped later.
    pub fn new(spool: Arc<Spool>, shipped: watch::Receiver<u64>, timeout: Duration) -> Self {
        Self {
            spool,
            shipped,
            timeout,
        }
    }
}

#[async_trait]
impl AuditSink for AckedSpool {
    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let receipt = self.spool.record(event).await?;
        let mut shipped = self.shipped.clone();
        match tokio::time::timeout(self.timeout, shipped.wait_for(|&s| s >= receipt.seq)).await {
            Ok(Ok(_)) => Ok(receipt),
            // The shipper is gone: nothing more will be accepted.
            Ok(Err(_)) => Err(AuditError::Closed),
            Err(_) => Err(AuditError::Timeout(self.timeout)),
        }
    }

    async fn close(&self) {
        self.spool.close().await;
    }

    fn ready(&self) -> Result<(), String> {
        self.spool.ready()
    }
}
