//! The HIPAA audit trail. Every access to patient data, every denied or failed attempt and every
//! credential change becomes an [`AuditEvent`]; an [`AuditSink`] makes it durable (group-committed
//! to a local spool with a hash chain) **before** the caller gets an answer. Shippers (CloudWatch
//! Logs, later) read the spool; the verifier checks the chain end to end.

pub mod chain;
pub mod denials;
#[cfg(test)]
pub mod memory;
mod recovery;
pub mod segments;
pub mod shipper;
pub mod spool;
pub mod streams;

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
    /// A text message to a patient or the practice's staff (sent, refused or withheld).
    Notify,
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
    /// About to be done: a write to the practice's system or a credential change, recorded
    /// durably before it is attempted. Its outcome follows as its own entry.
    Intent,
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

/// The longest a text field of an entry may be, in characters: whatever an attacker controls (a
/// path, a tool name, an id) is cut to this before it is written, so one request cannot make a
/// large entry.
pub const MAX_FIELD_CHARS: usize = 200;
/// The most patient ids one entry lists.
pub const MAX_PATIENT_IDS: usize = 64;

/// `text` cut to [`MAX_FIELD_CHARS`] characters, marked with `…` where it was cut.
fn bounded(text: &mut String) {
    if let Some((at, _)) = text.char_indices().nth(MAX_FIELD_CHARS) {
        text.truncate(at);
        text.push('…');
    }
}

/// `id` cut like [`bounded`], rebuilt with `make` only when it is too long.
fn bounded_id<T>(id: &mut T, text: impl Fn(&T) -> &str, make: impl Fn(String) -> T) {
    if text(id).chars().nth(MAX_FIELD_CHARS).is_some() {
        let mut cut = text(id).to_owned();
        bounded(&mut cut);
        *id = make(cut);
    }
}

impl AuditEvent {
    /// The event with every text field cut to [`MAX_FIELD_CHARS`] and at most
    /// [`MAX_PATIENT_IDS`] patient ids. The spool applies this to everything it writes.
    pub fn bounded(mut self) -> Self {
        bounded(&mut self.resource);
        for field in [
            &mut self.request_id,
            &mut self.source_ip,
            &mut self.reason,
            &mut self.actor.call_id,
            &mut self.actor.org_id,
        ]
        .into_iter()
        .flatten()
        {
            bounded(field);
        }
        bounded(&mut self.actor.kind);
        if let Some(account) = &mut self.account_id {
            bounded_id(account, AccountId::as_str, AccountId::new);
        }
        self.patient_ids.truncate(MAX_PATIENT_IDS);
        for id in &mut self.patient_ids {
            bounded_id(id, PatientId::as_str, PatientId::new);
        }
        self
    }
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
    /// A sync failed earlier; nothing is acknowledged any more (see [`spool`]).
    #[error("audit spool is poisoned by a failed sync ({0})")]
    Poisoned(String),
    /// The entry was not durable within the audit write deadline.
    #[error("audit entry not durable within {0:?}")]
    Timeout(std::time::Duration),
}

impl AuditError {
    /// The same error again, for each caller of a failed batch.
    pub fn duplicate(&self) -> AuditError {
        match self {
            AuditError::Io(e) => AuditError::Io(std::io::Error::new(e.kind(), e.to_string())),
            AuditError::Closed => AuditError::Closed,
            AuditError::Poisoned(why) => AuditError::Poisoned(why.clone()),
            AuditError::Timeout(after) => AuditError::Timeout(*after),
        }
    }
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
