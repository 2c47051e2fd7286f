//! The state gateway tasks share: the ports the receptionist keeps its memories behind, and the
//! one-process implementations of the local profile. On the `aws` profile every port is backed
//! by one DynamoDB table (`aws::state`), so a call that lands on any task sees the same truth:
//! - [`WriteLedger`](crate::receptionist::WriteLedger): writes by business key, the slot each
//!   holds, and the pending writebacks any task may settle;
//! - [`ToolCalls`]: one answer per `toolCallId`, however many tasks its copies reach;
//! - [`Sessions`]: whom a call has verified;
//! - [`Leases`]: one task at a time does a thing (a practice's Sikka key refresh, polling a
//!   practice's pending writebacks);
//! - [`SharedSeen`]: a signature accepted by one task is a replay on every other;
//! - [`Consents`](crate::sms::Consents): who agreed to texts, and which numbers replied STOP;
//! - [`MessageStore`](crate::receptionist::messages::MessageStore): messages for the front desk.
//!
//! A port that fails answers [`StateError`]; the domain decides what that means (a write is
//! refused, a read goes on without the shared memory), counts it and says so in a log line.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    audit::AuditOutcome,
    clock::Clock,
    pms::PatientId,
    receptionist::{
        CallScope, MemoryLedger, WriteLedger,
        idempotency::AnswerCache,
        verify::{MemorySessions, SessionScope},
    },
};

/// The shared store could not be read or written (unreachable, throttled, refused).
#[derive(Debug, thiserror::Error)]
#[error("shared state unavailable: {0}")]
pub struct StateError(pub String);

pub type StateResult<T> = Result<T, StateError>;

impl StateError {
    /// Counts the failure (the `StateErrors` metric) and keeps its message.
    pub fn counted(message: impl Into<String>) -> Self {
        COUNTS.errors.fetch_add(1, Ordering::Relaxed);
        Self(message.into())
    }
}

/// Running totals of the shared store's use, for the metrics and the benchmark.
pub struct StateCounts {
    /// Requests sent to the shared store.
    pub calls: AtomicU64,
    /// Requests it refused for throughput (throttled).
    pub throttles: AtomicU64,
    /// Requests that failed (throttled, unreachable, refused).
    pub errors: AtomicU64,
}

pub static COUNTS: StateCounts = StateCounts {
    calls: AtomicU64::new(0),
    throttles: AtomicU64::new(0),
    errors: AtomicU64::new(0),
};

/// An answer given, with what its audit entry said, so a repeat is audited alike.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Remembered {
    pub answer: Result<String, String>,
    pub audit: AuditOutcome,
    pub patients: Vec<PatientId>,
}

/// What [`ToolCalls::begin`] found.
#[derive(Debug)]
pub enum Begun {
    /// Nobody answered this tool call yet: the caller answers it (and then [`ToolCalls::finish`]).
    First,
    /// Answered before: the same answer again.
    Answered(Arc<Remembered>),
}

/// Answers by `toolCallId` within a call's scope: a repeated id hears the answer already given.
#[async_trait]
pub trait ToolCalls: Send + Sync + 'static {
    /// Marks the tool call as being answered for at most `lease`, or returns its answer. A copy
    /// being answered elsewhere is waited for (until it is answered or its lease lapses).
    async fn begin(&self, scope: &CallScope, id: &str, lease: Duration) -> StateResult<Begun>;
    /// Remembers the answer given.
    async fn finish(&self, scope: &CallScope, id: &str, answer: Remembered) -> StateResult<()>;
    /// Forgets a tool call answered without being remembered (a retry runs it afresh).
    async fn abandon(&self, scope: &CallScope, id: &str) -> StateResult<()>;
}

#[async_trait]
impl ToolCalls for AnswerCache {
    async fn begin(&self, scope: &CallScope, id: &str, _: Duration) -> StateResult<Begun> {
        Ok(self.get(scope, id).map_or(Begun::First, Begun::Answered))
    }

    async fn finish(&self, scope: &CallScope, id: &str, answer: Remembered) -> StateResult<()> {
        self.put(scope, id, answer);
        Ok(())
    }

    async fn abandon(&self, _: &CallScope, _: &str) -> StateResult<()> {
        Ok(())
    }
}

/// Which patients a call has verified.
#[async_trait]
pub trait Sessions: Send + Sync + 'static {
    async fn remember(&self, scope: SessionScope<'_>, patient: &PatientId) -> StateResult<()>;
    async fn verified(&self, scope: SessionScope<'_>) -> StateResult<Vec<PatientId>>;
}

/// Named leases with an expiry: one holder at a time.
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes `name` for `ttl` unless someone else holds it unexpired; `true` when taken (or
    /// already this holder's, then extended).
    async fn acquire(&self, name: &str, ttl: Duration) -> StateResult<bool>;
    /// Gives `name` back early, if this holder has it.
    async fn release(&self, name: &str) -> StateResult<()>;
}

/// One process's leases: the process is the only holder, so every lease is its own (the
/// process serialises its own work where it must, e.g. one Sikka refresh per practice).
pub struct OneProcess;

#[async_trait]
impl Leases for OneProcess {
    async fn acquire(&self, _: &str, _: Duration) -> StateResult<bool> {
        Ok(true)
    }

    async fn release(&self, _: &str) -> StateResult<()> {
        Ok(())
    }
}

/// Signatures accepted by any task, beyond this task's own memory of them.
#[async_trait]
pub trait SharedSeen: Send + Sync + 'static {
    /// `Ok(true)` the first time `mac` is presented to any task within `window`.
    async fn first_use(&self, mac: &[u8], window: Duration) -> StateResult<bool>;
}

/// Everything the receptionist remembers, behind its ports.
#[derive(Clone)]
pub struct StateStores {
    pub ledger: Arc<dyn WriteLedger>,
    pub calls: Arc<dyn ToolCalls>,
    pub sessions: Arc<dyn Sessions>,
    pub leases: Arc<dyn Leases>,
    /// `None`: one task, its own signature memory is enough.
    pub seen: Option<Arc<dyn SharedSeen>>,
    pub consents: Arc<dyn crate::sms::Consents>,
    pub messages: Arc<dyn crate::receptionist::messages::MessageStore>,
}

impl StateStores {
    /// One process's memories (the local profile, and the tests of one gateway).
    pub fn memory(clock: Clock) -> Self {
        Self {
            ledger: Arc::new(MemoryLedger::new(clock)),
            calls: Arc::new(AnswerCache::default()),
            sessions: Arc::new(MemorySessions::default()),
            leases: Arc::new(OneProcess),
            seen: None,
            consents: Arc::new(crate::sms::MemoryConsents::default()),
            messages: Arc::new(crate::receptionist::messages::MemoryMessages::default()),
        }
    }
}
