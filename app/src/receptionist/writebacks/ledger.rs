//! The write ledger: what this gateway has asked practices' systems to write, by business key
//! ([`WriteKey`], stored by its digest), until the practice's own records show it. It makes
//! writes idempotent on their business key, holds the slot a booking takes from the moment it
//! is decided (a claim, before the practice's system is asked) so no other caller is given it,
//! and lists the writes still pending, with who to tell, for whichever task settles them.
//!
//! [`MemoryLedger`] is one process's; the `aws` profile's is the shared table
//! (`aws::state::DynamoLedger`), with the same rules:
//! - a **claim** is live until `CLAIM_TTL` passes without the write being recorded (its task
//!   died between deciding and sending);
//! - a **recorded** write is live while pending, and for [`APPLIED_HOLD`] once applied (Sikka's
//!   reads lag the PMS); a failed one is dead at once (the caller may try again);
//! - a live entry's slot is busy for every other claim: same provider or same operatory,
//!   overlapping in time.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;
use jiff::{Timestamp, civil::Date};
use serde::{Deserialize, Serialize};

use crate::{
    audit::AuditActor,
    clock::Clock,
    pms::{AccountId, PatientId, WritebackId, WritebackState},
    receptionist::{Tool, WriteKey, slots::Busy},
    state::StateResult,
};

/// How long an applied booking keeps blocking its slot: Sikka's reads lag the PMS by up to its
/// sync interval, so a just-applied booking may not appear in the practice's appointments yet.
pub const APPLIED_HOLD: Duration = Duration::from_secs(60 * 60);

/// How long a claim lives without its write being recorded (the decision, the intent's audit
/// entry and the request to the practice's system all fit well inside it).
pub const CLAIM_TTL: Duration = Duration::from_secs(2 * 60);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// The business key's digest ([`WriteKey::digest`]).
    pub key: String,
    #[serde(with = "tool_name")]
    pub tool: Tool,
    /// `None` while claimed: decided, not yet sent.
    pub writeback: Option<WritebackId>,
    pub state: WritebackState,
    pub patient: PatientId,
    /// The slot a booking or reschedule takes, to keep it from being offered again.
    pub slot: Option<Busy>,
    /// What the caller can quote.
    pub reference: String,
    /// "Tuesday, December 1 at 9:00 AM with Dr. Maya Lee" — for repeating the answer.
    pub summary: String,
    pub claimed_at: Timestamp,
    pub settled_at: Option<Timestamp>,
}

impl LedgerEntry {
    /// A claim on `key` for a write about to be sent.
    pub fn claim(
        key: &WriteKey,
        patient: PatientId,
        slot: Option<Busy>,
        summary: String,
        now: Timestamp,
    ) -> Self {
        Self {
            key: key.digest(),
            tool: key.tool(),
            writeback: None,
            state: WritebackState::Pending,
            patient,
            slot,
            reference: String::new(),
            summary,
            claimed_at: now,
            settled_at: None,
        }
    }

    /// Until when the entry counts (its slot is busy, its key is taken); `None`: dead.
    pub fn live_until(&self) -> Option<Timestamp> {
        let after = |t: Timestamp, d: Duration| t.checked_add(d).unwrap_or(Timestamp::MAX);
        match (&self.state, &self.writeback, self.settled_at) {
            (WritebackState::Failed { .. }, ..) => None,
            (_, None, _) => Some(after(self.claimed_at, CLAIM_TTL)),
            (_, Some(_), Some(settled)) => Some(after(settled, APPLIED_HOLD)),
            (_, Some(_), None) => Some(Timestamp::MAX),
        }
    }

    pub fn live(&self, now: Timestamp) -> bool {
        self.live_until().is_some_and(|until| until > now)
    }

    /// Sent, and not settled yet.
    pub fn pending(&self) -> bool {
        self.writeback.is_some() && self.state == WritebackState::Pending
    }

    /// The patient the write is filed under (a registration's is not: it has none yet).
    pub fn under_patient(&self) -> Option<&PatientId> {
        (self.tool != Tool::CreatePatient).then_some(&self.patient)
    }

    /// Whether this entry's slot and `other` cannot both be booked.
    pub fn clashes(&self, other: &Busy) -> bool {
        self.slot.as_ref().is_some_and(|mine| {
            let same_chair = mine.operatory_id.is_some() && mine.operatory_id == other.operatory_id;
            (mine.provider_id == other.provider_id || same_chair)
                && mine.start < other.end
                && other.start < mine.end
        })
    }
}

/// What a claim found.
#[derive(Debug)]
pub enum Claim {
    /// The key (and the slot) are this write's now.
    Mine,
    /// The same write was already made: its entry.
    Made(Box<LedgerEntry>),
    /// The same write is being decided or sent right now by another call.
    InFlight,
    /// The slot is held by another write.
    Taken,
}

/// Who to tell, and until when to keep asking, about a write still pending after its call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Following {
    pub account: AccountId,
    pub key: String,
    pub writeback: WritebackId,
    #[serde(with = "tool_name")]
    pub tool: Tool,
    pub actor: AuditActor,
    pub patient: PatientId,
    /// Given up after this (the ledger keeps it pending; the practice's webhooks may still
    /// settle it).
    pub until: Timestamp,
    /// When its writeback was last asked about.
    pub asked: Option<Timestamp>,
    /// What the write does, for its confirmation text ("Tuesday, December 1 at 9:00 AM with …").
    #[serde(default)]
    pub summary: String,
    /// The appointment's (new) start, practice-local, when the write has one.
    #[serde(default)]
    pub at: Option<jiff::civil::DateTime>,
}

impl Following {
    /// The patient the write is filed under (see [`LedgerEntry::under_patient`]).
    pub fn under_patient(&self) -> Option<&PatientId> {
        (self.tool != Tool::CreatePatient).then_some(&self.patient)
    }
}

/// The business-key memory of writes.
#[async_trait]
pub trait WriteLedger: Send + Sync + 'static {
    /// The live, sent entry for `key` (failed writes are forgotten, so the caller may try again).
    async fn get(&self, account: &AccountId, key: &WriteKey) -> StateResult<Option<LedgerEntry>>;
    /// Claims `entry.key`, and the slot it takes, for a write about to be sent.
    async fn claim(&self, account: &AccountId, entry: &LedgerEntry) -> StateResult<Claim>;
    /// Drops a claim whose write was not sent (or was refused outright), freeing its slot.
    async fn release(&self, account: &AccountId, key: &str) -> StateResult<()>;
    /// Records the write claimed under `key` as sent: pending as `writeback`, and followed until
    /// it settles. `patient` replaces the claim's (a registration's new record).
    async fn record(
        &self,
        account: &AccountId,
        key: &str,
        patient: Option<PatientId>,
        following: &Following,
    ) -> StateResult<()>;
    /// Records the outcome of a write (and stops following it). A failed write frees its slot.
    /// `patient`: the one it is filed under ([`LedgerEntry::under_patient`]).
    async fn settle(
        &self,
        account: &AccountId,
        key: &str,
        patient: Option<&PatientId>,
        state: WritebackState,
        reference: Option<String>,
    ) -> StateResult<()>;
    /// Slots held by live writes that the PMS may not show yet, on days `from..=to`.
    async fn busy(&self, account: &AccountId, from: Date, to: Date) -> StateResult<Vec<Busy>>;
    /// A patient's sent writes that still count: pending, or applied within [`APPLIED_HOLD`].
    async fn live_for(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Vec<LedgerEntry>>;
    /// Every write of the practice that is still pending.
    async fn pending(&self, account: &AccountId) -> StateResult<Vec<LedgerEntry>>;
    /// The practice's most recently claimed write that was sent, whatever its state (a failed
    /// one too, while it is still stored), for the practice doctor.
    async fn latest(&self, account: &AccountId) -> StateResult<Option<LedgerEntry>>;
    /// Writes followed after their call, any practice, at most `limit`.
    async fn followed(&self, limit: usize) -> StateResult<Vec<Following>>;
    /// Notes that a followed write's writeback was asked about `at`.
    async fn asked(&self, account: &AccountId, key: &str, at: Timestamp) -> StateResult<()>;
    /// Stops following a write (settled, or followed long enough).
    async fn unfollow(&self, account: &AccountId, key: &str) -> StateResult<()>;
}

/// Tools by name in a stored entry.
mod tool_name {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::receptionist::Tool;

    pub fn serialize<S: Serializer>(tool: &Tool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tool.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tool, D::Error> {
        let name = String::deserialize(d)?;
        Tool::from_name(&name).ok_or_else(|| D::Error::custom(format!("unknown tool {name}")))
    }
}

#[derive(Default)]
struct Practice {
    entries: HashMap<String, LedgerEntry>,
    followed: HashMap<String, Following>,
}

/// One process's ledger.
pub struct MemoryLedger {
    clock: Clock,
    inner: Mutex<HashMap<AccountId, Practice>>,
}

impl MemoryLedger {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            inner: Mutex::default(),
        }
    }

    fn with<R>(&self, account: &AccountId, f: impl FnOnce(&mut Practice, Timestamp) -> R) -> R {
        let now = self.clock.now();
        let mut all = self.inner.lock().expect("ledger lock poisoned");
        f(all.entry(account.clone()).or_default(), now)
    }

    fn live(&self, account: &AccountId, keep: impl Fn(&LedgerEntry) -> bool) -> Vec<LedgerEntry> {
        self.with(account, |p, now| {
            let live = p.entries.values().filter(|e| e.live(now) && keep(e));
            live.cloned().collect()
        })
    }
}

#[async_trait]
impl WriteLedger for MemoryLedger {
    async fn get(&self, account: &AccountId, key: &WriteKey) -> StateResult<Option<LedgerEntry>> {
        let key = key.digest();
        let found = self.with(account, |p, now| {
            p.entries
                .get(&key)
                .filter(|e| e.live(now) && e.writeback.is_some())
                .cloned()
        });
        Ok(found)
    }

    async fn claim(&self, account: &AccountId, entry: &LedgerEntry) -> StateResult<Claim> {
        let claim = self.with(account, |p, now| {
            // Forget dead entries now and then, not on every call.
            if p.entries.len() % 1024 == 1023 {
                p.entries.retain(|_, e| e.live(now));
            }
            if let Some(existing) = p.entries.get(&entry.key).filter(|e| e.live(now)) {
                return match existing.writeback {
                    Some(_) => Claim::Made(Box::new(existing.clone())),
                    None => Claim::InFlight,
                };
            }
            let taken = entry.slot.as_ref().is_some_and(|slot| {
                (p.entries.values()).any(|e| e.key != entry.key && e.live(now) && e.clashes(slot))
            });
            if taken {
                return Claim::Taken;
            }
            p.entries.insert(entry.key.clone(), entry.clone());
            Claim::Mine
        });
        Ok(claim)
    }

    async fn release(&self, account: &AccountId, key: &str) -> StateResult<()> {
        self.with(account, |p, _| {
            if p.entries.get(key).is_some_and(|e| e.writeback.is_none()) {
                p.entries.remove(key);
            }
        });
        Ok(())
    }

    async fn record(
        &self,
        account: &AccountId,
        key: &str,
        patient: Option<PatientId>,
        following: &Following,
    ) -> StateResult<()> {
        self.with(account, |p, _| {
            if let Some(entry) = p.entries.get_mut(key) {
                entry.writeback = Some(following.writeback.clone());
                entry.reference = following.writeback.to_string();
                if let Some(patient) = patient {
                    entry.patient = patient;
                }
                p.followed.insert(key.to_owned(), following.clone());
            }
        });
        Ok(())
    }

    async fn settle(
        &self,
        account: &AccountId,
        key: &str,
        _: Option<&PatientId>,
        state: WritebackState,
        reference: Option<String>,
    ) -> StateResult<()> {
        self.with(account, |p, now| {
            let Some(entry) = p.entries.get_mut(key) else {
                return;
            };
            if state != WritebackState::Pending {
                entry.settled_at = Some(now);
                p.followed.remove(key);
            }
            if let Some(reference) = reference {
                entry.reference = reference;
            }
            entry.state = state;
        });
        Ok(())
    }

    async fn busy(&self, account: &AccountId, from: Date, to: Date) -> StateResult<Vec<Busy>> {
        let live = self.live(account, |e| {
            e.slot
                .as_ref()
                .is_some_and(|b| b.start.date() <= to && b.end.date() >= from)
        });
        Ok(live.into_iter().filter_map(|e| e.slot).collect())
    }

    async fn live_for(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Vec<LedgerEntry>> {
        Ok(self.live(account, |e| &e.patient == patient && e.writeback.is_some()))
    }

    async fn pending(&self, account: &AccountId) -> StateResult<Vec<LedgerEntry>> {
        Ok(self.live(account, LedgerEntry::pending))
    }

    async fn latest(&self, account: &AccountId) -> StateResult<Option<LedgerEntry>> {
        Ok(self.with(account, |p, _| {
            let sent = p.entries.values().filter(|e| e.writeback.is_some());
            sent.max_by_key(|e| e.claimed_at).cloned()
        }))
    }

    async fn followed(&self, limit: usize) -> StateResult<Vec<Following>> {
        let all = self.inner.lock().expect("ledger lock poisoned");
        let followed = all.values().flat_map(|p| p.followed.values());
        Ok(followed.take(limit).cloned().collect())
    }

    async fn asked(&self, account: &AccountId, key: &str, at: Timestamp) -> StateResult<()> {
        self.with(account, |p, _| {
            if let Some(f) = p.followed.get_mut(key) {
                f.asked = Some(at);
            }
        });
        Ok(())
    }

    async fn unfollow(&self, account: &AccountId, key: &str) -> StateResult<()> {
        self.with(account, |p, _| p.followed.remove(key));
        Ok(())
    }
}
