//! Consent to texts: which number a patient agreed to be texted on, per practice (the
//! `record_sms_consent` tool), and the numbers that replied STOP (Twilio's inbound webhook). A
//! text is sent only to a patient's consented number that has not opted out. Opting out is per
//! number, not per practice: every practice texts through the one messaging service, and Twilio
//! itself blocks a number that replied STOP to it until it replies START.
//!
//! [`MemoryConsents`] is one process's (the local profile); the `aws` profile keeps them in the
//! shared table (`aws::state::DynamoConsents`).

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{
    pms::{AccountId, E164, PatientId},
    state::StateResult,
};

/// A patient's agreement to be texted at `phone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub phone: E164,
    pub given_at: Timestamp,
    /// The call it was given on.
    pub call_id: Option<String>,
}

/// Consents and opt-outs, behind a port.
#[async_trait]
pub trait Consents: Send + Sync + 'static {
    /// Records (or replaces) `patient`'s consent at `account`.
    async fn grant(
        &self,
        account: &AccountId,
        patient: &PatientId,
        consent: &Consent,
    ) -> StateResult<()>;
    /// Withdraws `patient`'s consent at `account`; `true` when there was one.
    async fn withdraw(&self, account: &AccountId, patient: &PatientId) -> StateResult<bool>;
    /// `patient`'s consent at `account`, if given.
    async fn consent(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Option<Consent>>;
    /// `phone` replied STOP at `at`.
    async fn opt_out(&self, phone: &E164, at: Timestamp) -> StateResult<()>;
    /// `phone` replied START; `true` when it had opted out.
    async fn opt_in(&self, phone: &E164) -> StateResult<bool>;
    /// When `phone` opted out, if it has.
    async fn opted_out(&self, phone: &E164) -> StateResult<Option<Timestamp>>;
    /// `true` the first time it is asked for the write `key` at `account` (on any task): a
    /// write settled by two paths at once (the call and a webhook) is texted once.
    async fn first_text(&self, account: &AccountId, key: &str) -> StateResult<bool>;
}

/// One process's consents.
#[derive(Default)]
pub struct MemoryConsents {
    grants: Mutex<HashMap<(AccountId, PatientId), Consent>>,
    opted_out: Mutex<HashMap<E164, Timestamp>>,
    texted: Mutex<std::collections::HashSet<(AccountId, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[async_trait]
impl Consents for MemoryConsents {
    async fn grant(
        &self,
        account: &AccountId,
        patient: &PatientId,
        consent: &Consent,
    ) -> StateResult<()> {
        let key = (account.clone(), patient.clone());
        lock(&self.grants).insert(key, consent.clone());
        Ok(())
    }

    async fn withdraw(&self, account: &AccountId, patient: &PatientId) -> StateResult<bool> {
        let key = (account.clone(), patient.clone());
        Ok(lock(&self.grants).remove(&key).is_some())
    }

    async fn consent(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Option<Consent>> {
        let key = (account.clone(), patient.clone());
        Ok(lock(&self.grants).get(&key).cloned())
    }

    async fn opt_out(&self, phone: &E164, at: Timestamp) -> StateResult<()> {
        lock(&self.opted_out).entry(phone.clone()).or_insert(at);
        Ok(())
    }

    async fn opt_in(&self, phone: &E164) -> StateResult<bool> {
        Ok(lock(&self.opted_out).remove(phone).is_some())
    }

    async fn opted_out(&self, phone: &E164) -> StateResult<Option<Timestamp>> {
        Ok(lock(&self.opted_out).get(phone).copied())
    }

    async fn first_text(&self, account: &AccountId, key: &str) -> StateResult<bool> {
        Ok(lock(&self.texted).insert((account.clone(), key.to_owned())))
    }
}
