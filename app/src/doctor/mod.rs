//! The practice doctor: examines one practice and says, check by check, whether it can take
//! calls, and what an operator should do when it cannot. Served as `GET
//! /practices/{account_id}/health` (`api/practice_health.rs`) and run by `cargo xtask doctor`.
//!
//! The checks, in order: `profile` (the practice resolves and calls can reach it),
//! `credentials` (its Sikka credentials exist and a request key can be had), `schedule` (one
//! cheap read through its PMS port), `sync_agent` (Sikka's `health_check` and
//! `data_sync_status`, `agent.rs`), `writebacks` (the last write in the ledger settled). A check
//! that cannot run because an earlier one failed is `skipped`, saying why. No check reveals
//! patient data: counts, dates and states only. Every read goes through the gateway's own
//! ports and clients.

mod agent;
pub mod aws;
mod checks;

use std::{sync::Arc, time::Duration};

use serde::Serialize;

use crate::{
    clock::Clock,
    pms::AccountId,
    practices::{CredentialStore, PracticeDirectory},
    receptionist::WriteLedger,
};

pub use agent::agent_verdict;

/// A pending write older than this is worth a warning (`DOCTOR_PENDING_WARN_SECONDS`).
pub const DEFAULT_PENDING_WARN: Duration = Duration::from_secs(5 * 60);

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Skipped,
    Warning,
    Failed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Skipped => "skipped",
            Verdict::Warning => "warning",
            Verdict::Failed => "failed",
        }
    }
}

/// One check's result. `next_step` is what an operator should do; absent when ok.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

impl Check {
    pub fn ok(check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Ok,
            detail: detail.into(),
            next_step: None,
        }
    }

    pub fn bad(
        check: &'static str,
        verdict: Verdict,
        detail: impl Into<String>,
        next_step: impl Into<String>,
    ) -> Self {
        Self {
            check,
            verdict,
            detail: detail.into(),
            next_step: Some(next_step.into()),
        }
    }

    pub fn skipped(check: &'static str, why: impl Into<String>) -> Self {
        Self {
            check,
            verdict: Verdict::Skipped,
            detail: why.into(),
            next_step: None,
        }
    }
}

/// The doctor's answer about one practice.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub account_id: String,
    /// The worst verdict of the checks (`skipped` counts as `ok`).
    pub verdict: Verdict,
    /// When the practice was examined (RFC 3339, UTC).
    pub checked_at: String,
    pub checks: Vec<Check>,
    /// Whether the directory knows the practice (`false`: it answered that it does not).
    #[serde(skip)]
    pub found: bool,
}

impl Report {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Failed)
    }
}

/// What the doctor reads: the gateway's own stores and clock.
pub struct Doctor {
    pub directory: Arc<dyn PracticeDirectory>,
    pub credentials: Arc<dyn CredentialStore>,
    pub ledger: Arc<dyn WriteLedger>,
    pub clock: Clock,
    /// A pending write older than this is a warning.
    pub pending_warn: Duration,
}

impl Doctor {
    /// Runs every check on `account`, in order.
    pub async fn examine(&self, account: &AccountId) -> Report {
        let (found, checks) = checks::run(self, account).await;
        let verdict = checks
            .iter()
            .map(|c| match c.verdict {
                Verdict::Skipped => Verdict::Ok,
                v => v,
            })
            .max()
            .unwrap_or(Verdict::Ok);
        Report {
            account_id: account.to_string(),
            verdict,
            checked_at: self.clock.now().to_string(),
            checks,
            found,
        }
    }
}
