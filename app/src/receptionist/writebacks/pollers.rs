//! Writes still pending after the caller's answer are settled in the background by one poller
//! per practice, never by one loop per write: the poller asks about one pending writeback per
//! tick, oldest-asked first, at a rate that is a set share of the practice's request budget
//! (`polls_per_minute`), however many writes are pending. When a write settles, the ledger and
//! the audit trail say so, as when it settles during the call.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

use super::{Settled, WriteLedger, apply};
use crate::{
    audit::{AuditActor, AuditSink},
    pms::{AccountId, PatientId, WritebackId},
    practices::Practice,
    receptionist::Tool,
};

/// What the audit entry of a settled write needs to say.
struct Settling {
    account: AccountId,
    tool: Tool,
    actor: AuditActor,
    patient: PatientId,
    /// Given up after this (the ledger keeps it pending; the practice's webhooks may still
    /// settle it).
    until: Instant,
    last_asked: Option<Instant>,
}

#[derive(Default)]
struct State {
    settling: HashMap<WritebackId, Settling>,
    /// Practices whose poller is running.
    running: HashSet<AccountId>,
}

/// The practices' pollers.
pub struct Pollers {
    state: Arc<Mutex<State>>,
    ledger: Arc<dyn WriteLedger>,
    audit: Arc<dyn AuditSink>,
    polls_per_minute: u32,
    settle_for: Duration,
}

impl Pollers {
    pub fn new(
        ledger: Arc<dyn WriteLedger>,
        audit: Arc<dyn AuditSink>,
        polls_per_minute: u32,
        settle_for: Duration,
    ) -> Self {
        Self {
            state: Arc::default(),
            ledger,
            audit,
            polls_per_minute: polls_per_minute.max(1),
            settle_for,
        }
    }

    /// Follows `writeback` (pending in the ledger) until it settles or `settle_for` passes,
    /// starting the practice's poller if it is not running.
    pub fn follow(
        &self,
        practice: Arc<Practice>,
        writeback: WritebackId,
        tool: Tool,
        actor: AuditActor,
        patient: PatientId,
    ) {
        let account = practice.profile.account_id.clone();
        let start = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.settling.insert(
                writeback,
                Settling {
                    account: account.clone(),
                    tool,
                    actor,
                    patient,
                    until: Instant::now() + self.settle_for,
                    last_asked: None,
                },
            );
            state.running.insert(account)
        };
        if start {
            tokio::spawn(self.poller(practice));
        }
    }

    /// One practice's poller: one question per tick, until nothing of the practice is followed.
    fn poller(&self, practice: Arc<Practice>) -> impl Future<Output = ()> + Send + 'static {
        let (state, ledger, audit) = (self.state.clone(), self.ledger.clone(), self.audit.clone());
        let every = Duration::from_secs(60) / self.polls_per_minute;
        async move {
            let account = practice.profile.account_id.clone();
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let still_pending: HashSet<WritebackId> = ledger
                    .pending(&account)
                    .into_iter()
                    .map(|(_, e)| e.writeback)
                    .collect();
                let id = {
                    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                    let now = Instant::now();
                    // Settled elsewhere (the practice's webhook), or followed long enough.
                    state.settling.retain(|id, s| {
                        s.account != account || (still_pending.contains(id) && s.until > now)
                    });
                    let next = state
                        .settling
                        .iter_mut()
                        .filter(|(_, s)| s.account == account)
                        .min_by_key(|(_, s)| s.last_asked)
                        .map(|(id, s)| {
                            s.last_asked = Some(now);
                            id.clone()
                        });
                    match next {
                        Some(id) => id,
                        None => {
                            state.running.remove(&account);
                            return;
                        }
                    }
                };
                let Ok(answer) = practice.pms.writeback(&id).await else {
                    continue;
                };
                let Some(outcome) = apply(ledger.as_ref(), &account, &answer) else {
                    continue;
                };
                let followed = state
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .settling
                    .remove(&id);
                let Some(followed) = followed else { continue };
                let settled = Settled {
                    account: &account,
                    tool: followed.tool,
                    actor: followed.actor,
                    patient: followed.patient,
                    outcome,
                    how: format!("writeback {id} settled after the call"),
                };
                settled.audit(audit.as_ref()).await;
            }
        }
    }
}
