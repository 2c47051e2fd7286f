//! What a tool call produced: the answer the assistant reads (`Ok` is Vapi's `result`, `Err` its
//! `error`) and what the audit entry says about it. Every tool returns one [`Outcome`]; the
//! receptionist audits it and the HTTP layer turns its answer into the wire format.

use super::words;
use crate::{
    audit::AuditOutcome,
    pms::{PatientId, PmsError},
};

/// A tool's result and what the audit entry says about it.
#[derive(Debug)]
pub struct Outcome {
    pub answer: Result<String, String>,
    pub audit: AuditOutcome,
    /// Whose records were read or written.
    pub patients: Vec<PatientId>,
    pub reason: Option<String>,
    /// Whether a repeat of the same `toolCallId` may reuse this answer.
    pub remember: bool,
}

impl Outcome {
    pub fn ok(answer: impl Into<String>, patients: Vec<PatientId>) -> Self {
        Self {
            answer: Ok(answer.into()),
            audit: AuditOutcome::Success,
            patients,
            reason: None,
            remember: true,
        }
    }

    /// Sent to the practice's system, not yet confirmed by it.
    pub fn pending(answer: impl Into<String>, patients: Vec<PatientId>) -> Self {
        Self {
            audit: AuditOutcome::Pending,
            ..Self::ok(answer, patients)
        }
    }

    pub fn denied(answer: impl Into<String>, reason: &str) -> Self {
        Self {
            answer: Err(answer.into()),
            audit: AuditOutcome::Denied,
            patients: Vec::new(),
            reason: Some(reason.into()),
            remember: false,
        }
    }

    pub fn failed(
        answer: impl Into<String>,
        reason: impl Into<String>,
        patients: Vec<PatientId>,
    ) -> Self {
        Self {
            answer: Err(answer.into()),
            audit: AuditOutcome::Failed,
            patients,
            reason: Some(reason.into()),
            remember: false,
        }
    }

    /// The practice's system could not do it.
    pub fn pms(err: &PmsError, patients: Vec<PatientId>) -> Self {
        Self::failed(words::pms_failure(err), pms_reason(err), patients)
    }

    /// The same outcome, about `patients` (a rule refused after the caller was verified).
    pub fn about(self, patients: Vec<PatientId>) -> Self {
        Self { patients, ..self }
    }

    /// The same outcome, with the reason the audit entry gives.
    pub fn because(self, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..self
        }
    }
}

/// Why the practice's system failed, as the audit entry says it (no detail that could carry
/// patient data).
fn pms_reason(err: &PmsError) -> String {
    match err {
        PmsError::NotFound => "not found".into(),
        PmsError::Unsupported(what) => format!("unsupported: {what}"),
        PmsError::Offline => "pms offline".into(),
        PmsError::Conflict => "conflict".into(),
        PmsError::Rejected(_) => "rejected by pms".into(),
        PmsError::RateLimited => "rate limited".into(),
        PmsError::Transient(_) => "pms unavailable".into(),
        PmsError::Misconfigured(_) => "pms misconfigured".into(),
    }
}
