//! Caller verification. Patient data goes only to a caller the rules verified:
//! - the caller id equals the phone on file of exactly one patient, or
//! - first name, last name and date of birth match one patient (or, when the caller id is a
//!   household's shared number, first name and date of birth pick one member), or
//! - earlier in the same call the caller was verified for that patient.
//!
//! Everyone else gets only a count, or the first names of a household sharing their number, and
//! a prompt to verify. Remembered verifications ([`Sessions`]: [`MemorySessions`] in one
//! process, the shared table on the `aws` profile) are scoped by practice and call: a call id is
//! Vapi's, and says nothing about which practice verified whom. When the shared store fails, a
//! verification is not remembered (the caller is asked again later), never assumed.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;

use crate::{
    pms::{AccountId, E164, Patient, PatientId, PatientQuery, PmsResult, PracticeSystem},
    state::{Sessions, StateResult},
};

use super::Identity;

/// How long a verification lasts within a call (calls are minutes long).
pub const SESSION_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// Whose verifications: one call of one practice.
#[derive(Debug, Clone, Copy)]
pub struct SessionScope<'a> {
    pub account: &'a AccountId,
    pub call_id: Option<&'a str>,
}

impl SessionScope<'_> {
    pub fn key(&self) -> Option<(AccountId, String)> {
        self.call_id
            .filter(|c| !c.is_empty())
            .map(|c| (self.account.clone(), c.to_owned()))
    }
}

/// Which patients a call has verified, by practice and Vapi call id, in one process.
pub struct MemorySessions {
    cache: moka::sync::Cache<(AccountId, String), Arc<Mutex<Vec<PatientId>>>>,
}

impl Default for MemorySessions {
    fn default() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SESSION_TTL)
                .build(),
        }
    }
}

#[async_trait]
impl Sessions for MemorySessions {
    async fn remember(&self, scope: SessionScope<'_>, patient: &PatientId) -> StateResult<()> {
        let Some(key) = scope.key() else {
            return Ok(());
        };
        let entry = self.cache.get_with(key, Default::default);
        let mut verified = entry.lock().expect("session lock poisoned");
        if !verified.contains(patient) {
            verified.push(patient.clone());
        }
        Ok(())
    }

    async fn verified(&self, scope: SessionScope<'_>) -> StateResult<Vec<PatientId>> {
        Ok(scope
            .key()
            .and_then(|key| self.cache.get(&key))
            .map(|v| v.lock().expect("session lock poisoned").clone())
            .unwrap_or_default())
    }
}

#[derive(Debug)]
pub enum Verdict {
    Verified(Box<Patient>),
    /// The caller's number is on file for several patients.
    Household(Vec<Patient>),
    /// A name alone: this many records match, nothing more is said.
    Unverified {
        matches: usize,
    },
    /// The name and date of birth given match no patient.
    NoMatch,
    /// Nothing to verify with.
    NeedIdentity,
}

impl Verdict {
    /// The words for the assistant when the caller is not verified.
    pub fn refusal(&self) -> String {
        match self {
            Verdict::Verified(_) => String::new(),
            Verdict::Household(members) => format!(
                "The caller's number is on file for {} patients: {}. Ask which of them the call is about and that person's date of birth, then call again with first_name and date_of_birth.",
                members.len(),
                first_names(members)
            ),
            Verdict::Unverified { matches } => format!(
                "{matches} patient record(s) match that name, but the caller is not verified. Ask for the patient's first name, last name and date of birth, then call again with them."
            ),
            Verdict::NoMatch => "No patient matches that name and date of birth. Check the spelling and the date with the caller; if they are new to the practice, offer to register them with create_patient.".into(),
            Verdict::NeedIdentity => "The caller is not verified. Ask for the patient's first name, last name and date of birth, then call again with them.".into(),
        }
    }
}

fn first_names(members: &[Patient]) -> String {
    let names: Vec<&str> = members
        .iter()
        .map(|p| p.first_name.expose().as_str())
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

pub async fn verify(
    pms: &dyn PracticeSystem,
    sessions: &dyn Sessions,
    scope: SessionScope<'_>,
    caller: Option<&E164>,
    identity: &Identity,
) -> PmsResult<Verdict> {
    let by_caller = match caller {
        Some(number) => {
            pms.find_patients(&PatientQuery {
                phone: Some(number.clone()),
                ..Default::default()
            })
            .await?
        }
        None => Vec::new(),
    };
    let verdict = verdict(pms, sessions, scope, by_caller, identity).await?;
    if let Verdict::Verified(patient) = &verdict {
        remember(sessions, scope, &patient.id).await;
    }
    Ok(verdict)
}

/// Remembers a verification for the rest of the call; when the store fails, the caller is
/// verified for this tool call only.
pub async fn remember(sessions: &dyn Sessions, scope: SessionScope<'_>, patient: &PatientId) {
    if let Err(e) = sessions.remember(scope, patient).await {
        tracing::warn!(error = %e, "a verification could not be remembered for the call");
    }
}

async fn verdict(
    pms: &dyn PracticeSystem,
    sessions: &dyn Sessions,
    scope: SessionScope<'_>,
    by_caller: Vec<Patient>,
    identity: &Identity,
) -> PmsResult<Verdict> {
    let wanted = |p: &Patient| identity.patient_id.as_ref().is_none_or(|id| &p.id == id);

    if let (Some(first), Some(birth)) = (&identity.first_name, &identity.birth_date) {
        let mut matches = match &identity.last_name {
            Some(last) => {
                pms.find_patients(&PatientQuery {
                    first_name: Some(first.clone()),
                    last_name: Some(last.clone()),
                    birth_date: Some(birth.clone()),
                    phone: None,
                })
                .await?
            }
            // First name and birth date pick one member of the caller's household.
            None => by_caller
                .into_iter()
                .filter(|p| {
                    same(p.first_name.expose(), first.expose())
                        && p.birth_date
                            .as_ref()
                            .is_some_and(|d| d.expose() == birth.expose())
                })
                .collect(),
        };
        matches.retain(wanted);
        return Ok(match matches.len() {
            0 => Verdict::NoMatch,
            1 => Verdict::Verified(Box::new(matches.remove(0))),
            n => Verdict::Unverified { matches: n },
        });
    }

    let remembered = sessions.verified(scope).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "verified callers unavailable; the caller verifies again");
        Vec::new()
    });
    let chosen = match &identity.patient_id {
        Some(id) => remembered.iter().find(|p| *p == id),
        None if remembered.len() == 1 => remembered.first(),
        None => None,
    };
    if let Some(id) = chosen {
        return Ok(Verdict::Verified(Box::new(pms.patient(id).await?)));
    }

    match by_caller.len() {
        1 if wanted(&by_caller[0]) => {
            return Ok(Verdict::Verified(Box::new(
                by_caller.into_iter().next().expect("one"),
            )));
        }
        n if n > 1 => return Ok(Verdict::Household(by_caller)),
        _ => {}
    }

    if identity.first_name.is_some() || identity.last_name.is_some() {
        let matches = pms
            .find_patients(&PatientQuery {
                first_name: identity.first_name.clone(),
                last_name: identity.last_name.clone(),
                ..Default::default()
            })
            .await?;
        return Ok(Verdict::Unverified {
            matches: matches.len(),
        });
    }
    Ok(Verdict::NeedIdentity)
}
