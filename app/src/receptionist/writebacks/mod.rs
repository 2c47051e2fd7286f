//! Writebacks: a write to a practice's system is accepted first and applied later (Sikka's
//! writeback queue). This module records each write in the ledger under its business key,
//! waits for it within the call's confirm budget, and settles it afterwards — by the settler
//! ([`pollers`]) or when the practice's appointments webhook arrives — keeping the ledger
//! and the audit trail in step. [`apply`] is the one place a settled writeback changes the
//! ledger; [`Settled`] the one audit entry of a write settled after its call. Whichever task
//! sent a write, any task's settler may settle it: the ledger follows it, not the process.

mod ledger;
mod pollers;

use std::{sync::Arc, time::Duration};

pub use ledger::{
    APPLIED_HOLD, CLAIM_TTL, Claim, Following, LedgerEntry, MemoryLedger, WriteLedger,
};

use super::{
    ReceptionistSettings, Tool,
    texts::{Confirmation, Texts},
};
use crate::{
    audit::{AuditActor, AuditEvent, AuditOutcome, AuditSink},
    clock::Clock,
    pms::{AccountId, PatientId, Writeback, WritebackState},
    practices::{Practice, PracticeDirectory},
    state::{Leases, StateResult},
};

/// The ledger, the settling of pending writes and the waiting: everything that follows a write
/// once it is sent.
pub struct Writebacks {
    ledger: Arc<dyn WriteLedger>,
    audit: Arc<dyn AuditSink>,
    texts: Arc<Texts>,
    settler: Arc<pollers::Settler>,
    clock: Clock,
    /// How long a write waits to be applied before the answer says "pending".
    confirm_wait: Duration,
    /// How often a pending write is polled while the caller waits.
    poll_interval: Duration,
    /// How long a write still pending after its call is followed.
    settle_for: Duration,
}

impl Writebacks {
    pub fn new(
        ledger: Arc<dyn WriteLedger>,
        leases: Arc<dyn Leases>,
        audit: Arc<dyn AuditSink>,
        directory: Arc<dyn PracticeDirectory>,
        texts: Arc<Texts>,
        settings: &ReceptionistSettings,
    ) -> Self {
        let settler = pollers::Settler::new(
            ledger.clone(),
            leases,
            audit.clone(),
            directory,
            texts.clone(),
            settings,
        );
        Self {
            ledger,
            audit,
            texts,
            settler: Arc::new(settler),
            clock: settings.clock,
            confirm_wait: settings.confirm_wait,
            poll_interval: settings.poll_interval,
            settle_for: settings.settle_for,
        }
    }

    pub fn ledger(&self) -> &dyn WriteLedger {
        self.ledger.as_ref()
    }

    /// Starts settling the writes pending in the ledger, whichever task sent them (once).
    pub fn settle_in_background(&self) {
        self.settler.ensure_running();
    }

    /// Records the write claimed under `sent.key` as sent, followed until it settles on behalf
    /// of `sent.actor` (as the system).
    pub async fn record(&self, account: &AccountId, sent: Sent<'_>) -> StateResult<()> {
        let following = Following {
            account: account.clone(),
            key: sent.key.to_owned(),
            writeback: sent.writeback.id.clone(),
            tool: sent.tool,
            actor: AuditActor {
                kind: "system".into(),
                ..sent.actor
            },
            patient: sent.patient.clone(),
            until: (self.clock.now())
                .checked_add(self.settle_for)
                .unwrap_or(jiff::Timestamp::MAX),
            asked: None,
            summary: sent.summary.to_owned(),
            at: sent.at,
        };
        let patient = sent.new_patient.then_some(sent.patient);
        self.ledger
            .record(account, sent.key, patient, &following)
            .await
    }

    /// Waits, within the confirm budget, for a write to be applied; the ledger learns the
    /// outcome when the write has a business key.
    /// `claimed`: the digest the write was claimed under, and the patient it is filed under.
    pub async fn wait(
        &self,
        practice: &Practice,
        claimed: Option<(&str, Option<&PatientId>)>,
        writeback: Writeback,
    ) -> Writeback {
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
        if let Some((key, patient)) = claimed {
            let account = &practice.profile.account_id;
            apply(self.ledger(), account, (key, patient), &current).await;
        }
        current
    }

    /// A write still pending when the caller got the answer is settled in the background (it
    /// is followed in the ledger since it was recorded).
    pub fn follow(&self) {
        self.settler.ensure_running();
    }

    /// Polls each of the practice's pending writebacks once, now (the practice's system just
    /// said its appointments changed), and settles those it reports applied or failed: ledger
    /// and audit, as when they settle after a call. Returns how many settled.
    pub async fn settle_pending(&self, practice: &Practice) -> usize {
        let account = &practice.profile.account_id;
        let pending = match self.ledger.pending(account).await {
            Ok(pending) => pending,
            Err(e) => {
                tracing::warn!(error = %e, "pending writes unavailable");
                return 0;
            }
        };
        let mut settled = 0;
        for entry in pending {
            let Some(id) = &entry.writeback else { continue };
            let next = match practice.pms.writeback(id).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "writeback status unavailable");
                    continue;
                }
            };
            let filed = (entry.key.as_str(), entry.under_patient());
            let Some(outcome) = apply(self.ledger(), account, filed, &next).await else {
                continue;
            };
            settled += 1;
            let actor = AuditActor {
                kind: "system".into(),
                ..Default::default()
            };
            let settled = Settled {
                account,
                tool: entry.tool,
                actor: actor.clone(),
                patient: entry.patient.clone(),
                outcome,
                how: format!("writeback {id} settled on the practice's appointments webhook"),
            };
            settled.audit(self.audit.as_ref()).await;
            if outcome == AuditOutcome::Success {
                let at = entry.slot.as_ref().map(|slot| slot.start);
                self.texts.confirm(
                    confirmation(
                        practice,
                        &entry.key,
                        &entry.patient,
                        entry.tool,
                        &entry.summary,
                        at,
                        actor,
                    ),
                    None,
                );
            }
        }
        settled
    }
}

/// The confirmation text of a write `practice`'s system applied.
pub(crate) fn confirmation(
    practice: &Practice,
    key: &str,
    patient: &PatientId,
    tool: Tool,
    summary: &str,
    at: Option<jiff::civil::DateTime>,
    actor: AuditActor,
) -> Confirmation {
    Confirmation {
        account: practice.profile.account_id.clone(),
        key: key.to_owned(),
        practice_name: practice.profile.name.clone(),
        time_zone: practice.profile.time_zone.clone(),
        patient: patient.clone(),
        tool,
        summary: summary.to_owned(),
        at,
        actor,
    }
}

/// A write just sent, for the ledger.
pub struct Sent<'a> {
    /// The digest its claim was made under.
    pub key: &'a str,
    pub tool: Tool,
    pub writeback: &'a Writeback,
    pub patient: PatientId,
    pub actor: AuditActor,
    /// `patient` is the record the write creates (a registration), not the claim's.
    pub new_patient: bool,
    /// What the write does, and the appointment's start (for its confirmation text).
    pub summary: &'a str,
    pub at: Option<jiff::civil::DateTime>,
}

/// Records a settled writeback in the ledger (an applied one takes the id the practice gave it
/// as its reference). Returns the audit outcome, or `None` while it is still pending or when the
/// ledger could not be told (the next sweep asks again).
async fn apply(
    ledger: &dyn WriteLedger,
    account: &AccountId,
    (key, patient): (&str, Option<&PatientId>),
    writeback: &Writeback,
) -> Option<AuditOutcome> {
    let (outcome, reference) = match &writeback.state {
        WritebackState::Pending => return None,
        WritebackState::Applied { created_id } => (AuditOutcome::Success, created_id.clone()),
        WritebackState::Failed { .. } => (AuditOutcome::Failed, None),
    };
    match ledger
        .settle(account, key, patient, writeback.state.clone(), reference)
        .await
    {
        Ok(_) => Some(outcome),
        Err(e) => {
            tracing::warn!(error = %e, "a settled writeback could not be recorded in the ledger");
            None
        }
    }
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
