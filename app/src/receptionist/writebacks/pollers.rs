//! Writes still pending after the caller's answer are settled in the background by the settler:
//! each tick it reads the writes the ledger follows (every task's, so a write whose task was
//! replaced is still settled), and asks about one per practice, the least recently asked, at a
//! rate that is a set share of the practice's request budget (`polls_per_minute`) however many
//! writes are pending and however many tasks run: a practice is polled by the task that holds
//! its poll lease for the tick. When a write settles, the ledger and the audit trail say so, as
//! when it settles during the call; one followed longer than `settle_for` is given up (the
//! ledger keeps it pending, the practice's webhooks may still settle it).

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use super::{Following, Settled, WriteLedger, apply, confirmation};
use crate::{
    audit::{AuditOutcome, AuditSink},
    clock::Clock,
    pms::AccountId,
    practices::PracticeDirectory,
    receptionist::{ReceptionistSettings, texts::Texts},
    state::Leases,
};

/// At most this many followed writes are read per tick.
const FOLLOWED_PER_TICK: usize = 500;

pub struct Settler {
    ledger: Arc<dyn WriteLedger>,
    leases: Arc<dyn Leases>,
    audit: Arc<dyn AuditSink>,
    directory: Arc<dyn PracticeDirectory>,
    texts: Arc<Texts>,
    clock: Clock,
    /// One question per practice per this long.
    every: Duration,
    running: AtomicBool,
}

impl Settler {
    pub fn new(
        ledger: Arc<dyn WriteLedger>,
        leases: Arc<dyn Leases>,
        audit: Arc<dyn AuditSink>,
        directory: Arc<dyn PracticeDirectory>,
        texts: Arc<Texts>,
        settings: &ReceptionistSettings,
    ) -> Self {
        Self {
            ledger,
            leases,
            audit,
            directory,
            texts,
            clock: settings.clock,
            every: Duration::from_secs(60) / settings.settle_polls_per_minute.max(1),
            running: AtomicBool::new(false),
        }
    }

    /// Starts the settler's loop unless it runs already.
    pub fn ensure_running(self: &Arc<Self>) {
        if !self.running.swap(true, Ordering::SeqCst) {
            tokio::spawn(self.clone().run());
        }
    }

    async fn run(self: Arc<Self>) {
        let start = tokio::time::Instant::now() + self.every;
        let mut tick = tokio::time::interval_at(start, self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.sweep().await;
        }
    }

    /// One tick: one question per practice with followed writes. Returns how many settled.
    async fn sweep(&self) -> usize {
        let followed = match self.ledger.followed(FOLLOWED_PER_TICK).await {
            Ok(followed) => followed,
            Err(e) => {
                tracing::warn!(error = %e, "followed writes unavailable; settling waits");
                return 0;
            }
        };
        let now = self.clock.now();
        let mut next: HashMap<AccountId, Following> = HashMap::new();
        for f in followed {
            if f.until <= now {
                let _ = self.ledger.unfollow(&f.account, &f.key).await;
                continue;
            }
            match next.get(&f.account) {
                Some(current) if current.asked <= f.asked => {}
                _ => {
                    next.insert(f.account.clone(), f);
                }
            }
        }
        let mut settled = 0;
        for f in next.into_values() {
            settled += usize::from(self.ask(f).await);
        }
        settled
    }

    /// Asks about one followed write, if this task holds the practice's poll lease; settles it
    /// when the practice's system has.
    async fn ask(&self, f: Following) -> bool {
        let lease = format!("poll#{}", f.account);
        if !self
            .leases
            .acquire(&lease, self.every)
            .await
            .unwrap_or(false)
        {
            return false;
        }
        let practice = match self.directory.by_account(&f.account).await {
            Ok(Some(practice)) => practice,
            _ => return false,
        };
        let _ = self
            .ledger
            .asked(&f.account, &f.key, self.clock.now())
            .await;
        let Ok(answer) = practice.pms.writeback(&f.writeback).await else {
            return false;
        };
        let filed = (f.key.as_str(), f.under_patient());
        let Some(outcome) = apply(self.ledger.as_ref(), &f.account, filed, &answer).await else {
            return false;
        };
        let settled = Settled {
            account: &f.account,
            tool: f.tool,
            actor: f.actor.clone(),
            patient: f.patient.clone(),
            outcome,
            how: format!("writeback {} settled after the call", f.writeback),
        };
        settled.audit(self.audit.as_ref()).await;
        if outcome == AuditOutcome::Success {
            let text = confirmation(
                &practice, &f.key, &f.patient, f.tool, &f.summary, f.at, f.actor,
            );
            self.texts.confirm(text, None);
        }
        true
    }
}
