//! The write ledger on the table ([`DynamoLedger`]), with the rules of
//! `receptionist::writebacks::ledger`. A claim is one transaction: the entry (if its key is free
//! or dead) and one hold item per 5 minutes of the slot per provider and per operatory (if none
//! is held by a live write; a visit over 4 hours, its provider's only: a transaction holds at
//! most 100 items), so two tasks can never both claim one slot. A hold lives for the
//! claim's time and [`APPLIED_HOLD`] after it (the life of a write applied during its call, the
//! usual case) and is deleted when the write fails or its claim is released; a write pending
//! longer keeps its slot out of availability and the re-check through its entry (`busy`), and
//! the PMS refuses a clash when both apply. An entry's fields that change (its writeback, state, reference) are
//! attributes of their own, so recording and settling are blind updates.
//!
//! Requests per write: `get` 1, `claim` 1 (a refused one 2), `record` 1, `settle` 1 (a failed
//! write 3: its holds go). `busy` (what availability and the re-check subtract) reads the
//! practice's entries at most once per [`BUSY_FRESH`] per task; `live_for` always reads (and
//! refreshes what `busy` uses).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, Delete, Put, TransactWriteItem, Update},
};
use jiff::{Timestamp, civil::Date};

use super::{Item, Table, after, conditional, expires, failed, get_n, get_s, ms, n, s};
use crate::{
    pms::{AccountId, PatientId, WritebackId, WritebackState},
    receptionist::{
        APPLIED_HOLD, CLAIM_TTL, Claim, Following, LedgerEntry, WriteKey, WriteLedger, slots::Busy,
    },
    state::StateResult,
};

/// How stale the held slots subtracted from availability may be (the claim is what refuses a
/// held slot; this only keeps one from being offered).
pub const BUSY_FRESH: Duration = Duration::from_secs(2);

/// Hold units: a slot is held in steps of this many minutes, from its start rounded down to its
/// end rounded up (every visit alike, so any two overlapping visits share a unit).
const UNIT_MINUTES: i64 = 5;
/// A transaction holds at most 100 items: the entry and 99 holds.
const MAX_HOLDS: usize = 99;

/// A pending write's entry and holds live this long (it is settled or given up before).
const PENDING_LIFE: Duration = Duration::from_secs(26 * 60 * 60);

pub struct DynamoLedger {
    table: Table,
    /// The practice's entries as last read, for `busy`.
    recent: Mutex<HashMap<AccountId, Recent>>,
}

/// A practice's entries and when they were read.
type Recent = (tokio::time::Instant, Arc<Vec<LedgerEntry>>);

impl DynamoLedger {
    pub fn new(table: Table) -> Self {
        Self {
            table,
            recent: Mutex::default(),
        }
    }

    fn pk(account: &AccountId) -> String {
        format!("L#{account}")
    }

    /// Every live entry of the practice, as stored now.
    async fn entries(&self, account: &AccountId) -> StateResult<Vec<LedgerEntry>> {
        let mut pages = self
            .table
            .sent()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk")
            .filter_expression("live_until > :now")
            .expression_attribute_values(":pk", s(Self::pk(account)))
            .expression_attribute_values(":now", n(ms(self.table.now())))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut entries = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("reading the ledger", e))?;
            entries.extend(page.items().iter().filter_map(entry));
        }
        let fresh = Arc::new(entries.clone());
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.insert(account.clone(), (tokio::time::Instant::now(), fresh));
        Ok(entries)
    }

    async fn recent(&self, account: &AccountId) -> StateResult<Arc<Vec<LedgerEntry>>> {
        let cached = {
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            recent.get(account).cloned()
        };
        match cached {
            Some((at, entries)) if at.elapsed() < BUSY_FRESH => Ok(entries),
            _ => self.entries(account).await.map(Arc::new),
        }
    }

    async fn read(&self, account: &AccountId, key: &str) -> StateResult<Option<LedgerEntry>> {
        let read = self
            .table
            .sent()
            .get_item()
            .table_name(self.table.name())
            .key("pk", s(Self::pk(account)))
            .key("sk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("reading a ledger entry", e))?;
        Ok(read.item.as_ref().and_then(entry))
    }

    /// The hold items of `slot`, as `sk` keys: its provider's and its operatory's units. A
    /// visit longer than a transaction can hold both for (over 4 hours) holds its provider's.
    fn units(slot: &Busy) -> Vec<String> {
        let minutes = (slot.end - slot.start)
            .total(jiff::Unit::Minute)
            .unwrap_or(0.0)
            .ceil() as i64;
        let midnight = slot.start.date().to_datetime(jiff::civil::Time::midnight());
        let offset = (slot.start - midnight)
            .total(jiff::Unit::Minute)
            .unwrap_or(0.0) as i64;
        let first = offset - offset.rem_euclid(UNIT_MINUTES);
        let starts: Vec<_> = (first..offset + minutes.max(1))
            .step_by(UNIT_MINUTES as usize)
            .map(|at| midnight + jiff::Span::new().minutes(at))
            .collect();
        let mut keys: Vec<String> = (starts.iter())
            .map(|when| format!("p#{}#{when}", slot.provider_id))
            .collect();
        if let Some(op) = &slot.operatory_id
            && keys.len() * 2 <= MAX_HOLDS
        {
            keys.extend(starts.iter().map(|when| format!("o#{op}#{when}")));
        }
        keys.truncate(MAX_HOLDS);
        keys
    }

    fn hold_put(&self, account: &AccountId, unit: String, owner: &str, now: Timestamp) -> Put {
        let until = after(after(now, CLAIM_TTL), APPLIED_HOLD);
        Put::builder()
            .table_name(self.table.name())
            .item("pk", s(format!("H#{account}")))
            .item("sk", s(unit))
            .item("owner", s(owner))
            .item("live_until", n(ms(until)))
            .item("expires_at", expires(until))
            .condition_expression("attribute_not_exists(pk) OR live_until < :now OR #owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(ms(now)))
            .expression_attribute_values(":me", s(owner))
            .build()
            .expect("a hold put is complete")
    }

    /// Deletes the holds of `entry` (its write failed or was never sent).
    async fn free(&self, account: &AccountId, entry: &LedgerEntry) -> StateResult<()> {
        let Some(slot) = &entry.slot else {
            return Ok(());
        };
        let deletes = Self::units(slot).into_iter().map(|unit| {
            let delete = Delete::builder()
                .table_name(self.table.name())
                .key("pk", s(format!("H#{account}")))
                .key("sk", s(unit))
                .build()
                .expect("a delete is complete");
            TransactWriteItem::builder().delete(delete).build()
        });
        self.transact(deletes.collect())
            .await
            .map_err(|e| failed("freeing a slot", e))?;
        Ok(())
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>> {
        self.table
            .sent()
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(drop)
    }

    /// The pk of `entry`'s copy under its patient (`live_for` reads it), unless it is a
    /// registration's (no patient yet).
    fn index_pk(account: &AccountId, entry: &LedgerEntry) -> Option<String> {
        entry
            .under_patient()
            .map(|patient| format!("LP#{account}#{patient}"))
    }

    /// `change` applied to the entry `key`, and to its copy `index` when it has one.
    fn updates(
        &self,
        account: &AccountId,
        key: &str,
        index: Option<String>,
        change: &Change,
    ) -> Vec<TransactWriteItem> {
        let main = Update::builder().condition_expression("attribute_exists(pk)");
        // A copy that is missing is not a reason to refuse the change (a copy without its
        // document is never read back).
        let copy = index.map(|pk| (pk, Update::builder()));
        std::iter::once((Self::pk(account), main))
            .chain(copy)
            .map(|(pk, update)| {
                let mut update = update
                    .table_name(self.table.name())
                    .key("pk", s(pk))
                    .key("sk", s(key))
                    .update_expression(&change.expression);
                for (name, attribute) in &change.names {
                    update = update.expression_attribute_names(*name, *attribute);
                }
                for (name, value) in &change.values {
                    update = update.expression_attribute_values(*name, value.clone());
                }
                let update = update.build().expect("an update is complete");
                TransactWriteItem::builder().update(update).build()
            })
            .collect()
    }

    fn unfollow_item(&self, account: &AccountId, key: &str) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(self.table.name())
            .key("pk", s("F"))
            .key("sk", s(format!("{account}#{key}")))
            .build()
            .expect("a delete is complete");
        TransactWriteItem::builder().delete(delete).build()
    }
}

/// One update expression, with its names and values (applied to an entry and its copy alike).
struct Change {
    expression: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
}

impl Change {
    fn new(expression: &str) -> Self {
        Self {
            expression: expression.to_owned(),
            names: Vec::new(),
            values: Vec::new(),
        }
    }

    fn name(mut self, name: &'static str, attribute: &'static str) -> Self {
        self.names.push((name, attribute));
        self
    }

    fn value(mut self, name: &'static str, value: AttributeValue) -> Self {
        self.values.push((name, value));
        self
    }

    /// Appends `clause` to the expression, with its value.
    fn also(mut self, clause: &str, name: &'static str, value: AttributeValue) -> Self {
        self.expression.push_str(clause);
        self.value(name, value)
    }
}

/// A stored entry: the claim's document with the fields that changed since.
fn entry(item: &Item) -> Option<LedgerEntry> {
    let mut entry: LedgerEntry = serde_json::from_str(get_s(item, "doc")?).ok()?;
    if let Some(wb) = get_s(item, "wb") {
        entry.writeback = Some(WritebackId::new(wb));
    }
    if let Some(state) = get_s(item, "st") {
        entry.state = serde_json::from_str(state).ok()?;
    }
    if let Some(reference) = get_s(item, "ref") {
        entry.reference = reference.to_owned();
    }
    if let Some(patient) = get_s(item, "patient") {
        entry.patient = PatientId::new(patient);
    }
    if let Some(at) = get_n(item, "settled_at") {
        entry.settled_at = Timestamp::from_millisecond(at).ok();
    }
    Some(entry)
}

/// What cancelled a claim's transaction.
enum Cancelled {
    /// A condition failed: the entry's or a hold's (the entry, read, tells which).
    Condition,
    /// Another transaction on the same items was under way.
    Conflict,
    /// Not a cancellation: the store failed.
    Other,
}

fn cancelled(e: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>) -> Cancelled {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        e.as_service_error()
    else {
        return Cancelled::Other;
    };
    let conflict =
        (cancelled.cancellation_reasons().iter()).any(|r| r.code() == Some("TransactionConflict"));
    if conflict {
        Cancelled::Conflict
    } else {
        Cancelled::Condition
    }
}

#[async_trait]
impl WriteLedger for DynamoLedger {
    async fn get(&self, account: &AccountId, key: &WriteKey) -> StateResult<Option<LedgerEntry>> {
        let now = self.table.now();
        let found = self.read(account, &key.digest()).await?;
        Ok(found.filter(|e| e.live(now) && e.writeback.is_some()))
    }

    async fn claim(&self, account: &AccountId, claim: &LedgerEntry) -> StateResult<Claim> {
        let doc = serde_json::to_string(claim).expect("an entry serialises");
        for attempt in 0..4 {
            let now = self.table.now();
            let live = after(now, CLAIM_TTL);
            let put = Put::builder()
                .table_name(self.table.name())
                .item("pk", s(Self::pk(account)))
                .item("sk", s(&claim.key))
                .item("doc", s(&doc))
                .item("live_until", n(ms(live)))
                .item("expires_at", expires(after(now, PENDING_LIFE)))
                .condition_expression("attribute_not_exists(pk) OR live_until < :now")
                .expression_attribute_values(":now", n(ms(now)))
                .build()
                .expect("a ledger put is complete");
            let mut items = vec![TransactWriteItem::builder().put(put).build()];
            if let Some(pk) = Self::index_pk(account, claim) {
                let copy = Put::builder()
                    .table_name(self.table.name())
                    .item("pk", s(pk))
                    .item("sk", s(&claim.key))
                    .item("doc", s(&doc))
                    .item("live_until", n(ms(live)))
                    .item("expires_at", expires(after(now, PENDING_LIFE)))
                    .build()
                    .expect("an index put is complete");
                items.push(TransactWriteItem::builder().put(copy).build());
            }
            for unit in claim.slot.iter().flat_map(Self::units) {
                let hold = self.hold_put(account, unit, &claim.key, now);
                items.push(TransactWriteItem::builder().put(hold).build());
            }
            let e = match self.transact(items).await {
                Ok(()) => return Ok(Claim::Mine),
                Err(e) => e,
            };
            match cancelled(&e) {
                Cancelled::Condition => {
                    // The entry's own condition, or a hold's: the entry says which.
                    let existing = self.read(account, &claim.key).await?;
                    return Ok(match existing {
                        Some(e) if e.live(now) && e.writeback.is_some() => Claim::Made(Box::new(e)),
                        Some(e) if e.live(now) => Claim::InFlight,
                        _ => Claim::Taken,
                    });
                }
                // Another transaction on the same items is under way: try again shortly.
                Cancelled::Conflict if attempt < 3 => {
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                }
                Cancelled::Conflict => return Ok(Claim::Taken),
                Cancelled::Other => return Err(failed("claiming a write", e)),
            }
        }
        Ok(Claim::Taken)
    }

    async fn release(&self, account: &AccountId, key: &str) -> StateResult<()> {
        let Some(claimed) = self.read(account, key).await? else {
            return Ok(());
        };
        if claimed.writeback.is_some() {
            return Ok(());
        }
        self.free(account, &claimed).await?;
        if let Some(pk) = Self::index_pk(account, &claimed) {
            self.table
                .sent()
                .delete_item()
                .table_name(self.table.name())
                .key("pk", s(pk))
                .key("sk", s(key))
                .send()
                .await
                .map_err(|e| failed("releasing a claim's copy", e))?;
        }
        let deleted = self
            .table
            .sent()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s(Self::pk(account)))
            .key("sk", s(key))
            .condition_expression("attribute_not_exists(wb)")
            .send()
            .await;
        conditional("releasing a claim", deleted).map(drop)
    }

    async fn record(
        &self,
        account: &AccountId,
        key: &str,
        patient: Option<PatientId>,
        following: &Following,
    ) -> StateResult<()> {
        let now = self.table.now();
        let mut change =
            Change::new("SET wb = :wb, #ref = :wb, live_until = :live, expires_at = :exp")
                .name("#ref", "ref")
                .value(":wb", s(following.writeback.to_string()))
                .value(":live", n(i64::MAX / 2))
                .value(":exp", expires(after(now, PENDING_LIFE)));
        // A registration's claim is not under a patient: its record names the new one.
        let index = (following.under_patient())
            .filter(|_| patient.is_none())
            .map(|p| format!("LP#{account}#{p}"));
        if let Some(patient) = patient {
            change = change.also(", patient = :patient", ":patient", s(patient.to_string()));
        }
        let mut items = self.updates(account, key, index, &change);
        let follow = Put::builder()
            .table_name(self.table.name())
            .item("pk", s("F"))
            .item("sk", s(format!("{account}#{key}")))
            .item(
                "doc",
                s(serde_json::to_string(following).expect("serialises")),
            )
            .item("expires_at", expires(following.until))
            .build()
            .expect("a follow put is complete");
        items.push(TransactWriteItem::builder().put(follow).build());
        self.transact(items)
            .await
            .map_err(|e| failed("recording a sent write", e))
    }

    async fn settle(
        &self,
        account: &AccountId,
        key: &str,
        patient: Option<&PatientId>,
        state: WritebackState,
        reference: Option<String>,
    ) -> StateResult<()> {
        let now = self.table.now();
        let failed_write = matches!(state, WritebackState::Failed { .. });
        let (live, gone) = match &state {
            WritebackState::Pending => (i64::MAX / 2, after(now, PENDING_LIFE)),
            WritebackState::Applied { .. } => {
                let hold = after(now, APPLIED_HOLD);
                (ms(hold), hold)
            }
            WritebackState::Failed { .. } => (0, now),
        };
        let mut change = Change::new("SET st = :st, live_until = :live, expires_at = :exp")
            .value(":st", s(serde_json::to_string(&state).expect("serialises")))
            .value(":live", n(live))
            .value(":exp", expires(gone));
        if state != WritebackState::Pending {
            change = change.also(", settled_at = :at", ":at", n(ms(now)));
        }
        if let Some(reference) = reference {
            change = change
                .also(", #ref = :ref", ":ref", s(reference))
                .name("#ref", "ref");
        }
        let index = patient.map(|p| format!("LP#{account}#{p}"));
        let mut items = self.updates(account, key, index, &change);
        if state != WritebackState::Pending {
            items.push(self.unfollow_item(account, key));
        }
        self.transact(items)
            .await
            .map_err(|e| failed("settling a write", e))?;
        if failed_write && let Some(entry) = self.read(account, key).await? {
            self.free(account, &entry).await?;
        }
        Ok(())
    }

    async fn busy(&self, account: &AccountId, from: Date, to: Date) -> StateResult<Vec<Busy>> {
        let now = self.table.now();
        let entries = self.recent(account).await?;
        let live = entries.iter().filter(|e| e.live(now));
        let slots = live.filter_map(|e| e.slot.clone());
        Ok(slots
            .filter(|b| b.start.date() <= to && b.end.date() >= from)
            .collect())
    }

    async fn live_for(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Vec<LedgerEntry>> {
        let now = self.table.now();
        let page = self
            .table
            .sent()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk")
            .filter_expression("live_until > :now")
            .expression_attribute_values(":pk", s(format!("LP#{account}#{patient}")))
            .expression_attribute_values(":now", n(ms(now)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("reading a patient's writes", e))?;
        let entries = page.items().iter().filter_map(entry);
        Ok(entries
            .filter(|e| e.live(now) && e.writeback.is_some())
            .collect())
    }

    async fn pending(&self, account: &AccountId) -> StateResult<Vec<LedgerEntry>> {
        let now = self.table.now();
        let entries = self.entries(account).await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.live(now) && e.pending())
            .collect())
    }

    async fn latest(&self, account: &AccountId) -> StateResult<Option<LedgerEntry>> {
        // Every stored entry, dead ones too (a failed write stays until its item expires).
        let mut pages = self
            .table
            .sent()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(Self::pk(account)))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut latest: Option<LedgerEntry> = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed("reading the ledger", e))?;
            for e in page.items().iter().filter_map(entry) {
                if e.writeback.is_some()
                    && latest.as_ref().is_none_or(|l| e.claimed_at > l.claimed_at)
                {
                    latest = Some(e);
                }
            }
        }
        Ok(latest)
    }

    async fn followed(&self, limit: usize) -> StateResult<Vec<Following>> {
        let page = self
            .table
            .sent()
            .query()
            .table_name(self.table.name())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s("F"))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| failed("reading the followed writes", e))?;
        let parse = |item: &Item| -> Option<Following> {
            let mut f: Following = serde_json::from_str(get_s(item, "doc")?).ok()?;
            f.asked = get_n(item, "asked").and_then(|t| Timestamp::from_millisecond(t).ok());
            Some(f)
        };
        Ok(page.items().iter().filter_map(parse).collect())
    }

    async fn asked(&self, account: &AccountId, key: &str, at: Timestamp) -> StateResult<()> {
        let updated = self
            .table
            .sent()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s("F"))
            .key("sk", s(format!("{account}#{key}")))
            .update_expression("SET asked = :at")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":at", n(ms(at)))
            .send()
            .await;
        conditional("noting a writeback asked about", updated).map(drop)
    }

    async fn unfollow(&self, account: &AccountId, key: &str) -> StateResult<()> {
        self.table
            .sent()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s("F"))
            .key("sk", s(format!("{account}#{key}")))
            .send()
            .await
            .map_err(|e| failed("unfollowing a write", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pms::{OperatoryId, ProviderId};

    fn slot(provider: &str, chair: &str, start: &str, minutes: i64) -> Busy {
        let start: jiff::civil::DateTime = start.parse().unwrap();
        Busy {
            provider_id: ProviderId::new(provider),
            operatory_id: Some(OperatoryId::new(chair)),
            start,
            end: start + jiff::Span::new().minutes(minutes),
        }
    }

    fn shared(a: &Busy, b: &Busy) -> bool {
        let b = DynamoLedger::units(b);
        DynamoLedger::units(a).iter().any(|u| b.contains(u))
    }

    #[test]
    fn overlapping_slots_share_a_hold_item_and_adjacent_ones_do_not() {
        let nine = slot("DDS1", "OP1", "2026-12-01T09:00", 30);
        assert_eq!(
            DynamoLedger::units(&nine).len(),
            12,
            "6 per provider, 6 per chair"
        );
        assert!(
            shared(&nine, &slot("DDS1", "OP9", "2026-12-01T09:15", 30)),
            "same provider"
        );
        assert!(
            shared(&nine, &slot("DDS2", "OP1", "2026-12-01T09:25", 10)),
            "same chair"
        );
        assert!(
            !shared(&nine, &slot("DDS1", "OP1", "2026-12-01T09:30", 30)),
            "adjacent"
        );
        assert!(
            !shared(&nine, &slot("DDS2", "OP2", "2026-12-01T09:00", 30)),
            "elsewhere"
        );
        assert!(
            !shared(&nine, &slot("DDS1", "OP1", "2026-12-02T09:00", 30)),
            "another day"
        );
    }

    #[test]
    fn the_longest_visit_is_held_for_its_provider_within_one_transaction() {
        let day = slot("DDS1", "OP1", "2026-12-01T08:00", 8 * 60);
        let units = DynamoLedger::units(&day);
        assert!(units.len() < 100, "{} items", units.len());
        assert!(shared(&day, &slot("DDS1", "OP7", "2026-12-01T15:55", 5)));
        assert!(shared(&day, &slot("DDS1", "OP7", "2026-12-01T08:02", 5)));
        assert!(!shared(&day, &slot("DDS1", "OP7", "2026-12-01T16:00", 30)));
    }
}
