//! Writebacks: a write to a practice's system is accepted first and applied later (Sikka's
//! writeback queue). This module records each write in the ledger under its business key,
//! waits for it within the call's confirm budget, and settles it afterwards — by the practice's
//! poller ([`pollers`]) or when the practice's appointments webhook arrives — keeping the ledger
//! and the audit trail in step. [`apply`] is the one place a settled writeback changes the
//! ledger; [`Settled`] the one audit entry of a write settled after its call.

mod ledger;
mod pollers;

use std::{sync::Arc, time::Duration};

pub use ledger::{LedgerEntry, MemoryLedger, WriteLedger};

use super::{ReceptionistSettings, Tool, WriteKey, slots::Busy};
use crate::{
    audit::{AuditActor, AuditEvent, AuditOutcome, AuditSink},
    pms::{AccountId, PatientId, Writeback, WritebackState},
    practices::Practice,
};

/// The ledger, the pollers and the waiting: everything that follows a write once it is sent.
pub struct Writebacks {
    ledger: Arc<dyn WriteLedger>,
    audit: Arc<dyn AuditSink>,
    pollers: pollers::Pollers,
    /// How long a write waits to be applied before the answer says "pending".
    confirm_wait: Duration,
    /// How often a pending write is polled while the caller waits.
    poll_interval: Duration,
}

impl Writebacks {
    pub fn new(
        ledger: Arc<dyn WriteLedger>,
        audit: Arc<dyn AuditSink>,
        settings: &ReceptionistSettings,
    ) -> Self {
        let pollers = pollers::Pollers::new(
            ledger.clone(),
            audit.clone(),
            settings.settle_polls_per_minute,
            settings.settle_for,
        );
        Self {
            ledger,
            audit,
            pollers,
            confirm_wait: settings.confirm_wait,
            poll_interval: settings.poll_interval,
        }
    }

    pub fn ledger(&self) -> &dyn WriteLedger {
        self.ledger.as_ref()
    }

    /// Records a write just sent, under its business key, holding its slot if it takes one.
    pub fn record(
        &self,
        account: &AccountId,
        key: WriteKey,
        writeback: &Writeback,
        patient: PatientId,
        slot: Option<Busy>,
        summary: String,
    ) {
        let entry = LedgerEntry::new(writeback.id.clone(), patient, slot, summary);
        self.ledger.insert(account, key, entry);
    }

    /// Waits, within the confirm budget, for a write to be applied; the ledger learns the
    /// outcome.
    pub async fn wait(&self, practice: &Practice, writeback: Writeback) -> Writeback {
        let deadline = tokio::time::Instant::now() + self.confirm_wait;
        let mut current = writeback;
        loop {
            if current.state != WritebackState::Pending {
                break;
            }
            match practice.pms.writeback(&current.id).await {
                Ok(next) if next.state != WritebackState::Pending => {
                    current = next;
                    break;
                }
                Ok(next) => current = next,
                Err(err) => tracing::warn!(error = %err, "writeback status unavailable"),
            }
            if tokio::time::Instant::now() + self.poll_interval > deadline {
                break;
            }
            tokio::time::sleep(self.poll_interval).await;
        }
        apply(self.ledger(), &practice.profile.account_id, &current);
        current
    }

    /// Keeps following a write that was still pending when the caller got the answer: the
    /// practice's poller settles it and audits the outcome as `actor`'s.
    pub fn follow(
        &self,
        practice: Arc<Practice>,
        tool: Tool,
        actor: AuditActor,
        writeback: &Writeback,
        patient: PatientId,
    ) {
        let actor = AuditActor {
            kind: "system".into(),
            ..actor
        };
        self.pollers
            .follow(practice, writeback.id.clone(), tool, actor, patient);
    }

    /// Polls each of the practice's pending writebacks once, now (the practice's system just
    /// said its appointments changed), and settles those it reports applied or failed: ledger
    /// and audit, as when they settle after a call. Returns how many settled.
    pub async fn settle_pending(&self, practice: &Practice) -> usize {
        let account = &practice.profile.account_id;
        let mut settled = 0;
        for (key, entry) in self.ledger.pending(account) {
            let next = match practice.pms.writeback(&entry.writeback).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "writeback status unavailable");
                    continue;
                }
            };
            let Some(outcome) = apply(self.ledger(), account, &next) else {
                continue;
            };
            settled += 1;
            Settled {
                account,
                tool: key.tool(),
                actor: AuditActor {
                    kind: "system".into(),
                    ..Default::default()
                },
                patient: entry.patient,
                outcome,
                how: format!(
                    "writeback {} settled on the practice's appointments webhook",
                    entry.writeback
                ),
            }
            .audit(self.audit.as_ref())
            .await;
        }
        settled
    }
}

/// Records a settled writeback in the ledger (an applied one takes the id the practice gave it
/// as its reference). Returns the audit outcome, or `None` while it is still pending.
fn apply(
    ledger: &dyn WriteLedger,
    account: &AccountId,
    writeback: &Writeback,
) -> Option<AuditOutcome> {
    let (outcome, reference) = match &writeback.state {
        WritebackState::Pending => return None,
        WritebackState::Applied { created_id } => (AuditOutcome::Success, created_id.clone()),
        WritebackState::Failed { .. } => (AuditOutcome::Failed, None),
    };
    ledger.settle(account, &writeback.id, writeback.state.clone(), reference);
    Some(outcome)
}

/// A write the practice's system settled after its call, for the audit trail.
struct Settled<'a> {
    account: &'a AccountId,
    tool: Tool,
    actor: AuditActor,
    patient: PatientId,
    outcome: AuditOutcome,
    /// How it was learnt (which writeback, from the poller or a webhook).
    how: String,
}

impl Settled<'_> {
    /// Records the outcome; a failure to is logged (the write itself is already done).
    async fn audit(self, audit: &dyn AuditSink) {
        let event = AuditEvent {
            action: self.tool.action(),
            outcome: self.outcome,
            resource: self.tool.name().to_owned(),
            account_id: Some(self.account.clone()),
            actor: self.actor,
            patient_ids: vec![self.patient],
            request_id: None,
            source_ip: None,
            reason: Some(self.how),
        };
        if let Err(e) = audit.record(event).await {
            tracing::error!(error = %e, "audit entry for a settled writeback failed");
        }
    }
}
