//! What this gateway has asked practices' systems to write and not yet seen applied, and the
//! answers it already gave. Both make writes idempotent — on Vapi's `toolCallId` and on the
//! business key (patient + slot, appointment + action) — and keep pending bookings out of the
//! slots offered to the next caller.
//!
//! **Per task**: this memory lives in one gateway process. [`WriteLedger`] is the seam where a
//! shared store (DynamoDB with conditional writes) replaces it when one task is not enough.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jiff::civil::Date;

use crate::{
    audit::AuditOutcome,
    pms::{AccountId, PatientId, WritebackId, WritebackState},
};

use super::availability::Busy;

/// How long an applied booking keeps blocking its slot here: Sikka's reads lag the PMS by up to
/// its sync interval, so a just-applied booking may not appear in the practice's appointments yet.
pub const APPLIED_HOLD: Duration = Duration::from_secs(60 * 60);

/// At most this many bytes of remembered answers (the oldest go first).
pub const ANSWER_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How long answers are remembered for a repeated `toolCallId`.
pub const ANSWER_TTL: Duration = Duration::from_secs(2 * 60 * 60);

#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub writeback: WritebackId,
    pub state: WritebackState,
    pub patient: PatientId,
    /// The slot a booking or reschedule takes, to keep it from being offered again.
    pub slot: Option<Busy>,
    /// What the caller can quote.
    pub reference: String,
    /// "Tuesday, December 1 at 9:00 AM with Dr. Maya Lee" — for repeating the answer.
    pub summary: String,
    settled_at: Option<Instant>,
}

impl LedgerEntry {
    /// Settled long enough ago that the practice's own records show it.
    fn expired(&self) -> bool {
        self.settled_at.is_some_and(|t| t.elapsed() >= APPLIED_HOLD)
    }

    pub fn new(
        writeback: WritebackId,
        patient: PatientId,
        slot: Option<Busy>,
        summary: String,
    ) -> Self {
        Self {
            reference: writeback.to_string(),
            writeback,
            state: WritebackState::Pending,
            patient,
            slot,
            summary,
            settled_at: None,
        }
    }
}

/// The business-key memory of writes. Keys are built by the receptionist (`book|P1|…`).
pub trait WriteLedger: Send + Sync + 'static {
    /// The live entry for `key` (failed writes are forgotten, so the caller may try again).
    fn get(&self, account: &AccountId, key: &str) -> Option<LedgerEntry>;
    fn insert(&self, account: &AccountId, key: String, entry: LedgerEntry);
    /// Records the outcome of a writeback; returns the updated entry.
    fn settle(
        &self,
        account: &AccountId,
        writeback: &WritebackId,
        state: WritebackState,
        reference: Option<String>,
    ) -> Option<LedgerEntry>;
    /// Slots held by this gateway's writes that the PMS may not show yet, on days `from..=to`.
    fn busy(&self, account: &AccountId, from: Date, to: Date) -> Vec<Busy>;
    /// A patient's writes that are still pending.
    fn pending_for(&self, account: &AccountId, patient: &PatientId) -> Vec<LedgerEntry>;
    /// Every write of the practice that is still pending, with its business key.
    fn pending(&self, account: &AccountId) -> Vec<(String, LedgerEntry)>;
}

#[derive(Default)]
pub struct MemoryLedger {
    inner: Mutex<HashMap<AccountId, HashMap<String, LedgerEntry>>>,
}

impl MemoryLedger {
    fn with<R>(
        &self,
        account: &AccountId,
        f: impl FnOnce(&mut HashMap<String, LedgerEntry>) -> R,
    ) -> R {
        let mut all = self.inner.lock().expect("ledger lock poisoned");
        f(all.entry(account.clone()).or_default())
    }
}

impl WriteLedger for MemoryLedger {
    fn get(&self, account: &AccountId, key: &str) -> Option<LedgerEntry> {
        self.with(account, |p| {
            p.get(key)
                .filter(|e| !matches!(e.state, WritebackState::Failed { .. }))
                .cloned()
        })
    }

    fn insert(&self, account: &AccountId, key: String, entry: LedgerEntry) {
        self.with(account, |p| {
            // Forget settled writes past their hold now and then, not on every call.
            if p.len() % 1024 == 1023 {
                p.retain(|_, e| !e.expired());
            }
            p.insert(key, entry);
        });
    }

    fn settle(
        &self,
        account: &AccountId,
        writeback: &WritebackId,
        state: WritebackState,
        reference: Option<String>,
    ) -> Option<LedgerEntry> {
        self.with(account, |p| {
            let entry = p.values_mut().find(|e| &e.writeback == writeback)?;
            if !matches!(state, WritebackState::Pending) {
                entry.settled_at = Some(Instant::now());
            }
            if let Some(reference) = reference {
                entry.reference = reference;
            }
            entry.state = state;
            Some(entry.clone())
        })
    }

    fn busy(&self, account: &AccountId, from: Date, to: Date) -> Vec<Busy> {
        self.with(account, |p| {
            p.values()
                .filter(|e| !matches!(e.state, WritebackState::Failed { .. }) && !e.expired())
                .filter_map(|e| e.slot.as_ref())
                .filter(|b| b.start.date() <= to && b.end.date() >= from)
                .cloned()
                .collect()
        })
    }

    fn pending_for(&self, account: &AccountId, patient: &PatientId) -> Vec<LedgerEntry> {
        self.with(account, |p| {
            p.values()
                .filter(|e| &e.patient == patient && e.state == WritebackState::Pending)
                .cloned()
                .collect()
        })
    }

    fn pending(&self, account: &AccountId) -> Vec<(String, LedgerEntry)> {
        self.with(account, |p| {
            p.iter()
                .filter(|(_, e)| e.state == WritebackState::Pending)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect()
        })
    }
}

/// Answers already given, by call and `toolCallId`: a repeated id gets the same answer without
/// touching the PMS again. Per task, like [`MemoryLedger`].
pub struct AnswerCache {
    cache: moka::sync::Cache<String, Arc<Remembered>>,
}

/// An answer given, with what its audit entry said, so a repeat is audited alike.
#[derive(Debug)]
pub struct Remembered {
    pub answer: Result<String, String>,
    pub outcome: AuditOutcome,
    pub patients: Vec<PatientId>,
    pub account: Option<AccountId>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .weigher(|key: &String, value: &Arc<Remembered>| {
                    let text = match &value.answer {
                        Ok(t) | Err(t) => t.len(),
                    };
                    u32::try_from(key.len() + text + 64).unwrap_or(u32::MAX)
                })
                .max_capacity(ANSWER_CACHE_BYTES)
                .time_to_live(ANSWER_TTL)
                .build(),
        }
    }
}

impl AnswerCache {
    fn key(scope: &str, tool_call_id: &str) -> String {
        format!("{scope}\u{1f}{tool_call_id}")
    }

    pub fn get(&self, scope: &str, tool_call_id: &str) -> Option<Arc<Remembered>> {
        if tool_call_id.is_empty() {
            return None;
        }
        self.cache.get(&Self::key(scope, tool_call_id))
    }

    pub fn put(&self, scope: &str, tool_call_id: &str, remembered: Remembered) {
        if !tool_call_id.is_empty() {
            self.cache
                .insert(Self::key(scope, tool_call_id), Arc::new(remembered));
        }
    }
}
