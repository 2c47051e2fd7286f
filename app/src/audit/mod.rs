//! The HIPAA audit trail. Every access to patient data, every denied or failed attempt and every
//! credential change becomes an [`AuditEvent`]; an [`AuditSink`] makes it durable (group-committed
//! to a local spool with a hash chain) **before** the caller gets an answer. Shippers (CloudWatch
//! Logs, later) read the spool; the verifier checks the chain end to end.

pub mod chain;
pub mod segments;
pub mod spool;

pub use chain::{AuditEntry, Verifier, VerifyError, VerifySummary, verify_file};
pub use spool::{Spool, SpoolOptions, SpoolStats};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::pms::{AccountId, E164, PatientId};

/// What was done, in CRUD terms a compliance reviewer expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Read,
    Create,
    Update,
    Delete,
    /// Authentication of a request (a denial is audited with this action).
    Authenticate,
    /// Onboarding, credential storage or rotation.
    CredentialChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    Success,
    /// Refused by policy: bad signature, unverified caller, unknown practice.
    Denied,
    /// Attempted and not done: bad input, the PMS refused or was unreachable.
    Failed,
    /// Accepted by the PMS but not yet applied (an asynchronous writeback).
    Pending,
}

/// Who acted. For Vapi calls, the call and the caller's number as Vapi reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditActor {
    /// `vapi`, `sikka`, `admin`, `system`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller: Option<E164>,
}

/// One audited event, before the spool gives it an id, a sequence number and its chain hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub action: AuditAction,
    pub outcome: AuditOutcome,
    /// What was touched: a tool name (`get_appointments`) or a route.
    pub resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<AccountId>,
    pub actor: AuditActor,
    /// Which patients' records were involved (ids only, never names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patient_ids: Vec<PatientId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// Why, in words free of patient data ("signature mismatch", "caller not verified").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Proof that an event is durable: its id and place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReceipt {
    pub id: uuid::Uuid,
    pub seq: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit spool I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit spool is closed")]
    Closed,
}

/// Where audit events go. `record` returns only once the event is durable.
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError>;
    /// Make everything recorded so far durable and stop accepting events.
    async fn close(&self);
    /// Whether events can be recorded now; the error says why not (for `/readyz`).
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}
