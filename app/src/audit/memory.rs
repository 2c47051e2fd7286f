//! An audit sink that keeps its entries in memory, for in-process tests: every entry it took,
//! and a switch that makes it refuse entries (as a poisoned spool or a full disk does).

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{AuditError, AuditEvent, AuditReceipt, AuditSink};

/// Which entries the sink refuses.
type Refusal = fn(&AuditEvent) -> bool;

#[derive(Default)]
pub struct MemoryAudit {
    events: Mutex<Vec<AuditEvent>>,
    refuse: Mutex<Option<Refusal>>,
}

impl MemoryAudit {
    /// From now on, refuses the entries `which` picks (`None`: takes every entry again).
    pub fn refuse(&self, which: Option<Refusal>) {
        *self.refuse.lock().unwrap_or_else(PoisonError::into_inner) = which;
    }

    /// Every entry taken, in order.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl AuditSink for MemoryAudit {
    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let refuse = *self.refuse.lock().unwrap_or_else(PoisonError::into_inner);
        if refuse.is_some_and(|refused| refused(&event)) {
            return Err(AuditError::Poisoned("refused by the test".into()));
        }
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.push(event);
        Ok(AuditReceipt {
            id: uuid::Uuid::now_v7(),
            seq: events.len() as u64,
        })
    }

    async fn close(&self) {}
}
