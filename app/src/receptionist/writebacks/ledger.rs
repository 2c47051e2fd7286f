//! The write ledger: what this gateway has asked practices' systems to write, by business key
//! ([`WriteKey`]), until the practice's own records show it. It makes writes idempotent on
//! their business key and keeps pending bookings out of the slots offered to the next caller.
//!
//! **Per task**: [`MemoryLedger`] lives in one gateway process. [`WriteLedger`] is the seam where
//! a shared store (DynamoDB with conditional writes) replaces it when one task is not enough.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use jiff::civil::Date;

use crate::{
    pms::{AccountId, PatientId, WritebackId, WritebackState},
    receptionist::{WriteKey, slots::Busy},
};

/// How long an applied booking keeps blocking its slot here: Sikka's reads lag the PMS by up to
/// its sync interval, so a just-applied booking may not appear in the practice's appointments yet.
pub const APPLIED_HOLD: Duration = Duration::from_secs(60 * 60);

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

/// The business-key memory of writes.
pub trait WriteLedger: Send + Sync + 'static {
    /// The live entry for `key` (failed writes are forgotten, so the caller may try again).
    fn get(&self, account: &AccountId, key: &WriteKey) -> Option<LedgerEntry>;
    fn insert(&self, account: &AccountId, key: WriteKey, entry: LedgerEntry);
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
    fn pending(&self, account: &AccountId) -> Vec<(WriteKey, LedgerEntry)>;
}

#[derive(Default)]
pub struct MemoryLedger {
    inner: Mutex<HashMap<AccountId, HashMap<WriteKey, LedgerEntry>>>,
}

impl MemoryLedger {
    fn with<R>(
        &self,
        account: &AccountId,
        f: impl FnOnce(&mut HashMap<WriteKey, LedgerEntry>) -> R,
    ) -> R {
        let mut all = self.inner.lock().expect("ledger lock poisoned");
        f(all.entry(account.clone()).or_default())
    }
}

impl WriteLedger for MemoryLedger {
    fn get(&self, account: &AccountId, key: &WriteKey) -> Option<LedgerEntry> {
        self.with(account, |p| {
            p.get(key)
                .filter(|e| !matches!(e.state, WritebackState::Failed { .. }))
                .cloned()
        })
    }

    fn insert(&self, account: &AccountId, key: WriteKey, entry: LedgerEntry) {
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

    fn pending(&self, account: &AccountId) -> Vec<(WriteKey, LedgerEntry)> {
        self.with(account, |p| {
            p.iter()
                .filter(|(_, e)| e.state == WritebackState::Pending)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect()
        })
    }
}
