//! The tools' work, one module per group, each request type beside what it does:
//! [`availability`] (free times), [`booking`] (book, cancel, reschedule, a patient's visits),
//! [`patients`] (identify the caller, read, register, update), [`front_desk`] (providers,
//! transfer, messages for the staff) and [`consent`] (agreeing to appointment texts). What they share is here: [`Ctx`], a tool call being answered, with the rules every
//! tool applies (verification, dates that can be booked, known providers, the audited intent of
//! a write and the truthful report of its outcome).
//!
//! A new tool is a request type with a [`Work`] impl in one of these modules and a line in
//! `tool.rs`'s `tools!` list; the HTTP side adds its arguments and its route.

pub mod availability;
pub mod booking;
pub mod consent;
pub mod front_desk;
pub mod patients;

use std::{collections::BTreeMap, sync::Arc};

use jiff::{
    ToSpan, ZonedDateTime,
    civil::{Date, DateTime},
};

use super::{
    CallInfo, Identity, Outcome, Receptionist, STATE_DOWN, Tool, Verdict, WriteKey,
    slots::Busy,
    slots::Slot,
    texts::{self, Recipient},
    verify, words,
    writebacks::{Claim, LedgerEntry, Sent, confirmation},
};
use crate::{
    pms::{
        AccountId, Patient, PatientId, PmsResult, Provider, ProviderId, Writeback, WritebackState,
    },
    practices::Practice,
};

/// What a tool does with its request.
pub(crate) trait Work {
    async fn run(self, cx: &Ctx<'_>) -> Outcome;
}

/// A tool call being answered: the receptionist, the practice the call is bound to, and the
/// call.
pub struct Ctx<'a> {
    pub(crate) desk: &'a Receptionist,
    pub(crate) practice: &'a Arc<Practice>,
    pub(crate) call: &'a CallInfo,
}

impl Ctx<'_> {
    pub fn account(&self) -> &AccountId {
        &self.practice.profile.account_id
    }

    /// Now at the practice, in its time zone.
    pub fn now(&self) -> ZonedDateTime {
        self.desk.now_at(self.practice)
    }

    /// The caller, verified as the patient `identity` names (see `verify`), or the refusal.
    pub async fn verified(&self, identity: &Identity) -> Result<Patient, Outcome> {
        match self.verdict(identity).await? {
            Verdict::Verified(patient) => Ok(*patient),
            verdict => Err(Outcome::denied(verdict.refusal(), "caller not verified")),
        }
    }

    /// What verification says of the caller and `identity`.
    pub async fn verdict(&self, identity: &Identity) -> Result<Verdict, Outcome> {
        verify::verify(
            self.practice.pms.as_ref(),
            self.desk.sessions.as_ref(),
            self.call.session(self.account()),
            self.call.caller.as_ref(),
            identity,
        )
        .await
        .map_err(|err| Outcome::pms(&err, Vec::new()))
    }

    /// Remembers, for the rest of the call, that the caller is `patient`.
    pub async fn remember_verified(&self, patient: &PatientId) {
        let scope = self.call.session(self.account());
        verify::remember(self.desk.sessions.as_ref(), scope, patient).await;
    }

    /// Records, durably, that `tool` is about to write; `Err` is the answer when it cannot be,
    /// and then the write must not be attempted.
    pub async fn intend(&self, tool: Tool, patients: &[PatientId]) -> Result<(), Outcome> {
        self.desk
            .intend(self.practice, self.call, tool, patients)
            .await
    }

    /// The practice's providers, when `provider` (if given) is one of its active ones.
    pub async fn providers(&self, provider: Option<&ProviderId>) -> Result<Vec<Provider>, Outcome> {
        let providers = self
            .practice
            .pms
            .providers()
            .await
            .map_err(|e| Outcome::pms(&e, Vec::new()))?;
        if let Some(id) = provider
            && !providers.iter().any(|p| &p.id == id && p.active)
        {
            return Err(Outcome::failed(
                format!(
                    "There is no provider with provider_id {id:?}. Call list_providers for the valid ids, or leave provider_id out."
                ),
                "unknown provider",
                Vec::new(),
            ));
        }
        Ok(providers)
    }

    /// Checks that a date is one the caller may book: not before today, within the horizon.
    pub fn bookable_date(&self, date: Date) -> Result<(), Outcome> {
        let today = self.now().date();
        if date < today {
            return Err(Outcome::failed(
                format!(
                    "{} is in the past; today is {}. Ask the caller for a future date.",
                    words::day(date),
                    words::day(today)
                ),
                "date in the past",
                Vec::new(),
            ));
        }
        let horizon = self.practice.profile.booking.horizon_days;
        if date > today + i64::from(horizon).days() {
            return Err(Outcome::failed(
                format!(
                    "Appointments can only be booked up to {horizon} days ahead. Ask for an earlier date."
                ),
                "date beyond the booking horizon",
                Vec::new(),
            ));
        }
        Ok(())
    }

    /// Refuses a start that has passed or is within the practice's minimum notice.
    pub fn not_too_soon(&self, start: DateTime) -> Result<(), Outcome> {
        let earliest = self.now().datetime()
            + i64::from(self.practice.profile.booking.min_notice_minutes).minutes();
        if start >= earliest {
            return Ok(());
        }
        Err(Outcome::failed(
            format!(
                "{} has passed or is too soon to book. Ask the caller for a later time.",
                words::when(start)
            ),
            "start too soon",
            Vec::new(),
        ))
    }

    /// The slots held by writes from `date` through the days alternatives may be sought on.
    /// Without the ledger, none (the booking's own claim still refuses a held slot).
    pub async fn held_from(&self, date: Date) -> Vec<Busy> {
        let days = i64::from(self.practice.profile.booking.search_days) + 1;
        let ledger = self.desk.writebacks.ledger();
        let held = ledger.busy(self.account(), date, date + days.days()).await;
        held.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "held slots unavailable; offering from the practice's records");
            Vec::new()
        })
    }

    /// The write already made under `key`, if any, answered again; or the refusal when the
    /// ledger cannot say (no write without it).
    pub async fn made_before(
        &self,
        key: &WriteKey,
        what: &str,
        who: &[PatientId],
    ) -> Option<Outcome> {
        match self.desk.writebacks.ledger().get(self.account(), key).await {
            Ok(entry) => Some(repeat_answer(what, &entry?, who.to_vec())),
            Err(e) => Some(state_down(&e, who)),
        }
    }

    /// Claims `key` (and `slot`, when the write takes one) for a write about to be sent.
    pub async fn claim(
        &self,
        key: &WriteKey,
        patient: &PatientId,
        slot: Option<Busy>,
        summary: &str,
    ) -> Result<String, Refused> {
        let now = self.desk.clock().now();
        let entry = LedgerEntry::claim(key, patient.clone(), slot, summary.to_owned(), now);
        let who = [patient.clone()];
        let what = match key {
            WriteKey::Booking { .. } => "booking",
            WriteKey::Cancellation { .. } => "cancellation",
            WriteKey::Reschedule { .. } => "reschedule",
            WriteKey::Registration { .. } => "registration",
        };
        match self
            .desk
            .writebacks
            .ledger()
            .claim(self.account(), &entry)
            .await
        {
            Ok(Claim::Mine) => Ok(entry.key),
            Ok(Claim::Made(made)) => Err(Refused::Answer(repeat_answer(what, &made, who.to_vec()))),
            Ok(Claim::InFlight) => Err(Refused::Answer(Outcome::pending(
                format!(
                    "This request ({summary}) is being made right now by another call. Tell the caller it is in progress and not to repeat it; they can ask again in a minute to hear the outcome."
                ),
                who.to_vec(),
            ))),
            Ok(Claim::Taken) => Err(Refused::Taken),
            Err(e) => Err(Refused::Answer(state_down(&e, &who))),
        }
    }

    /// Drops a claim whose write was not sent.
    pub async fn release(&self, key: &str) {
        let ledger = self.desk.writebacks.ledger();
        if let Err(e) = ledger.release(self.account(), key).await {
            tracing::warn!(error = %e, "a claim could not be released; it lapses on its own");
        }
    }

    /// What became of a write just sent: recorded under its business key (holding its slot,
    /// if it takes one) before `lock` is released; then, within the confirm budget, the
    /// truthful answer of whether the practice's system applied it.
    pub async fn sent(
        &self,
        patient: &Patient,
        written: PmsResult<Writeback>,
        what: Written<'_>,
    ) -> Outcome {
        let Written {
            tool,
            verb,
            summary,
            claimed,
            at,
        } = what;
        let writeback = match written {
            Ok(writeback) => writeback,
            Err(e) => {
                if let Some(key) = claimed {
                    self.release(key).await;
                }
                return Outcome::pms(&e, vec![patient.id.clone()]);
            }
        };
        if let Some(key) = claimed {
            let written = (summary, at);
            self.record(key, tool, &writeback, patient.id.clone(), written)
                .await;
        }
        let settled = (self.desk.writebacks)
            .wait(
                self.practice,
                claimed.map(|k| (k, Some(&patient.id))),
                writeback,
            )
            .await;
        let who = vec![patient.id.clone()];
        let first = patient.first_name.expose();
        match &settled.state {
            WritebackState::Applied { created_id } => {
                let reference = created_id.clone().unwrap_or_else(|| settled.id.to_string());
                let texted = match claimed {
                    Some(key) => {
                        self.text_confirmation(key, &patient.id, tool, summary, at)
                            .await
                    }
                    None => String::new(),
                };
                Outcome::ok(
                    format!(
                        "{verb} and confirmed by the practice's system for {first}: {summary}. Reference {reference}.{texted}"
                    ),
                    who,
                )
            }
            WritebackState::Pending => {
                self.desk.writebacks.follow();
                Outcome::pending(
                    format!(
                        "Sent to the practice's system for {first}: {summary}, but it is not confirmed yet. Tell the caller it is pending confirmation and the office will confirm. Reference {}.",
                        settled.id
                    ),
                    who,
                )
            }
            WritebackState::Failed { reason } => Outcome::failed(
                format!(
                    "The practice's system did not accept this ({summary}): {reason}. Nothing was changed. Apologise and offer another option."
                ),
                "writeback failed",
                who,
            ),
        }
    }

    /// Texts the confirmation of an applied write to the patient, if they agreed to texts (in
    /// the background: what Twilio answers never changes the answer). The words to add to the
    /// answer: empty when no text goes out.
    async fn text_confirmation(
        &self,
        key: &str,
        patient: &PatientId,
        tool: Tool,
        summary: &str,
        at: Option<DateTime>,
    ) -> String {
        let texts = self.desk.texts();
        if !texts::is_texted(tool) || !texts.enabled() {
            return String::new();
        }
        let text = confirmation(
            self.practice,
            key,
            patient,
            tool,
            summary,
            at,
            self.call.actor(),
        );
        let recipient = match texts.recipient(self.account(), patient).await {
            Ok(recipient) => recipient,
            Err(e) => {
                // The background looks again, and audits the failure if it persists.
                tracing::warn!(error = %e, "consents unavailable");
                texts.confirm(text, None);
                return String::new();
            }
        };
        let words = match &recipient {
            Recipient::Phone(to) => format!(
                " A confirmation text is being sent to the number ending in {}.",
                to.last_four()
            ),
            Recipient::Nobody | Recipient::OptedOut => String::new(),
        };
        texts.confirm(text, Some(recipient));
        words
    }

    /// Records a claimed write as sent: pending in the ledger, followed until it settles. When
    /// the ledger cannot be told, the write stands (the caller hears its outcome) and its claim
    /// lapses on its own. `written`: its summary and appointment start, for a confirmation
    /// text when it settles; a registration (`CreatePatient`) files the new patient instead.
    pub async fn record(
        &self,
        key: &str,
        tool: Tool,
        writeback: &Writeback,
        patient: PatientId,
        (summary, at): (&str, Option<DateTime>),
    ) {
        let sent = Sent {
            key,
            tool,
            writeback,
            patient,
            actor: self.call.actor(),
            new_patient: tool == Tool::CreatePatient,
            summary,
            at,
        };
        if let Err(e) = self.desk.writebacks.record(self.account(), sent).await {
            tracing::error!(error = %e, tool = tool.name(), "a sent write could not be recorded in the ledger");
        }
    }
}

/// Why a claim was refused.
pub enum Refused {
    /// The slot is held by another write.
    Taken,
    /// The answer to give instead.
    Answer(Outcome),
}

/// The refusal of a write when the shared state is down.
pub(super) fn state_down(e: &crate::state::StateError, who: &[PatientId]) -> Outcome {
    tracing::error!(error = %e, "the write ledger is unavailable; not writing");
    Outcome::failed(STATE_DOWN, "shared state unavailable", who.to_vec())
}

/// What a write was: for its answer ("Booked … Tuesday, December 1 at 9:00 AM with Dr. Lee"),
/// and for the ledger (the digest of the business key it was claimed under).
pub struct Written<'a> {
    pub tool: Tool,
    pub verb: &'a str,
    pub summary: &'a str,
    pub claimed: Option<&'a str>,
    /// The appointment's (new) start, when the write has one.
    pub at: Option<DateTime>,
}

/// The answer for a write this gateway already made (same business key).
pub(super) fn repeat_answer(what: &str, entry: &LedgerEntry, who: Vec<PatientId>) -> Outcome {
    match &entry.state {
        WritebackState::Applied { .. } => Outcome::ok(
            format!(
                "This {what} was already made and confirmed: {}. Reference {}. Nothing new was done.",
                entry.summary, entry.reference
            ),
            who,
        ),
        _ => Outcome::pending(
            format!(
                "This {what} was already requested: {}; it is still pending confirmation by the practice's system. Reference {}. Nothing new was done.",
                entry.summary, entry.reference
            ),
            who,
        ),
    }
}

/// The display name of provider `id`.
pub fn name_of<'a>(providers: &'a [Provider], id: &ProviderId) -> &'a str {
    providers
        .iter()
        .find(|p| &p.id == id)
        .map_or("the provider", |p| p.display_name.as_str())
}

/// The names of the providers who can be offered: the active ones.
pub fn provider_names(providers: &[Provider]) -> BTreeMap<&str, &str> {
    providers
        .iter()
        .filter(|p| p.active)
        .map(|p| (p.id.as_str(), p.display_name.as_str()))
        .collect()
}

/// The slot a booking takes, held in the ledger until the practice's records show it.
pub fn held(slot: &Slot, length: u32) -> Busy {
    Busy {
        provider_id: slot.provider_id.clone(),
        operatory_id: Some(slot.operatory_id.clone()),
        start: slot.start,
        end: slot.start + i64::from(length).minutes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_provider_is_never_named() {
        let p = |id: &str, active| Provider {
            id: ProviderId::new(id),
            display_name: format!("Dr. {id}"),
            role: "dentist".into(),
            active,
        };
        let providers = [p("A", true), p("B", false)];
        let names = provider_names(&providers);
        assert_eq!(names.into_iter().collect::<Vec<_>>(), [("A", "Dr. A")]);
    }
}
