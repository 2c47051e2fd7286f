//! The scheduling tools: availability, booking, cancelling, rescheduling, a patient's upcoming
//! visits, and the practice's providers. Writes re-check the slot under the practice's booking
//! lock, are idempotent on their business key, and report truthfully whether the practice's
//! system applied them (confirmed), has not yet (pending), or refused (failed).

use std::{collections::BTreeMap, sync::Arc};

use jiff::{
    ToSpan,
    civil::{Date, DateTime},
};
use serde_json::json;

use super::{
    Done, Receptionist,
    availability::{self, AvailabilityRequest, Busy, Slot},
    ledger::LedgerEntry,
    request::{Identity, PartOfDay, Tool},
    words,
};
use crate::{
    pms::{
        Appointment, AppointmentId, NewAppointment, Patient, Phi, PmsError, Provider, ProviderId,
        Reschedule, WritebackState,
    },
    practices::Practice,
};

use super::CallInfo;

/// The names of the providers who can be offered: the active ones.
fn provider_names(providers: &[Provider]) -> BTreeMap<&str, &str> {
    providers
        .iter()
        .filter(|p| p.active)
        .map(|p| (p.id.as_str(), p.display_name.as_str()))
        .collect()
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

fn name_of<'a>(providers: &'a [Provider], id: &ProviderId) -> &'a str {
    providers
        .iter()
        .find(|p| &p.id == id)
        .map_or("the provider", |p| p.display_name.as_str())
}

/// One offered slot, as the assistant reads it.
#[derive(serde::Serialize)]
struct SlotOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    day: Option<String>,
    time: String,
    provider_id: &'a ProviderId,
}

impl<'a> SlotOut<'a> {
    /// `today` is the practice's date, for "today" and "tomorrow".
    fn new(slot: &'a Slot, with_date: bool, today: Date) -> Self {
        let date = slot.start.date();
        Self {
            date: with_date.then(|| date.to_string()),
            day: with_date.then(|| words::day_from(date, today)),
            time: words::hhmm(slot.start.time()),
            provider_id: &slot.provider_id,
        }
    }
}

/// The answer of `check_availability` (serialised directly: it is the hottest answer).
#[derive(serde::Serialize)]
struct AvailabilityOut<'a> {
    date: String,
    day: String,
    length_minutes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slots: Option<Vec<SlotOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alternatives: Option<Vec<SlotOut<'a>>>,
    providers: BTreeMap<&'a str, &'a str>,
}

impl Receptionist {
    /// This gateway's held slots from `date` through the days alternatives may be sought on.
    fn busy_from(&self, practice: &Practice, date: Date) -> Vec<Busy> {
        let days = i64::from(practice.profile.booking.search_days) + 1;
        self.ledger
            .busy(&practice.profile.account_id, date, date + days.days())
    }

    /// Checks that a date is one the caller may book: not before today, within the horizon.
    fn bookable_date(practice: &Practice, date: Date, today: Date) -> Result<(), Done> {
        if date < today {
            return Err(Done::failed(
                format!(
                    "{} is in the past; today is {}. Ask the caller for a future date.",
                    words::day(date),
                    words::day(today)
                ),
                "date in the past",
                Vec::new(),
            ));
        }
        let horizon = practice.profile.booking.horizon_days;
        if date > today + i64::from(horizon).days() {
            return Err(Done::failed(
                format!(
                    "Appointments can only be booked up to {horizon} days ahead. Ask for an earlier date."
                ),
                "date beyond the booking horizon",
                Vec::new(),
            ));
        }
        Ok(())
    }

    async fn known_provider(
        practice: &Practice,
        provider: Option<&ProviderId>,
    ) -> Result<Vec<Provider>, Done> {
        let providers = practice
            .pms
            .providers()
            .await
            .map_err(|e| Done::pms(&e, Vec::new()))?;
        if let Some(id) = provider
            && !providers.iter().any(|p| &p.id == id && p.active)
        {
            return Err(Done::failed(
                format!(
                    "There is no provider with provider_id {id:?}. Call list_providers for the valid ids, or leave provider_id out."
                ),
                "unknown provider",
                Vec::new(),
            ));
        }
        Ok(providers)
    }

    pub(super) async fn check_availability(
        &self,
        practice: &Practice,
        date: Option<Date>,
        length_minutes: Option<u32>,
        provider: Option<ProviderId>,
        part_of_day: PartOfDay,
        limit: usize,
    ) -> Done {
        let now = self.now_at(practice);
        let date = date.unwrap_or(now.date());
        if let Err(done) = Self::bookable_date(practice, date, now.date()) {
            return done;
        }
        let providers = match Self::known_provider(practice, provider.as_ref()).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let length = length_minutes.unwrap_or(practice.profile.booking.default_length_minutes);
        let busy = self.busy_from(practice, date);
        let request = AvailabilityRequest {
            date,
            length_minutes: length,
            provider,
            window: part_of_day.window(),
            limit,
        };
        let found = match availability::check(
            practice.pms.as_ref(),
            &practice.profile.booking,
            &now,
            &busy,
            &request,
        )
        .await
        {
            Ok(found) => found,
            Err(e) => return Done::pms(&e, Vec::new()),
        };
        let open = !found.slots.is_empty();
        let body = AvailabilityOut {
            date: date.to_string(),
            day: words::day_from(date, now.date()),
            length_minutes: length,
            available: (!open).then_some(false),
            slots: open.then(|| {
                found
                    .slots
                    .iter()
                    .map(|s| SlotOut::new(s, false, now.date()))
                    .collect()
            }),
            alternatives: (!open).then(|| {
                found
                    .alternatives
                    .iter()
                    .map(|s| SlotOut::new(s, true, now.date()))
                    .collect()
            }),
            providers: provider_names(&providers),
        };
        let mut text = Vec::with_capacity(1024);
        serde_json::to_writer(&mut text, &body).expect("plain data serialises");
        let body = String::from_utf8(text).expect("serde_json writes UTF-8");
        Done::ok(body, Vec::new())
    }

    /// What the practice can offer instead of a taken time, for the error the model reads.
    async fn other_times(
        &self,
        practice: &Practice,
        start: DateTime,
        length: u32,
        provider: Option<ProviderId>,
    ) -> String {
        let request = AvailabilityRequest {
            date: start.date(),
            length_minutes: length,
            provider,
            window: None,
            limit: 12,
        };
        // Suggestions beside a refusal look a week ahead at most: the assistant can ask
        // check_availability for more, and a full day should not cost three weeks of searching.
        let policy = crate::practices::BookingPolicy {
            alternative_days: 2,
            search_days: 7,
            ..practice.profile.booking.clone()
        };
        let busy = self.busy_from(practice, start.date());
        match availability::check(
            practice.pms.as_ref(),
            &policy,
            &self.now_at(practice),
            &busy,
            &request,
        )
        .await
        {
            Ok(found) if !found.slots.is_empty() => {
                let mut times: Vec<String> = found
                    .slots
                    .iter()
                    .map(|s| words::clock(s.start.time()))
                    .collect();
                times.dedup();
                times.truncate(4);
                format!(" Open times that day: {}.", times.join(", "))
            }
            Ok(found) if !found.alternatives.is_empty() => {
                let times: Vec<String> = found
                    .alternatives
                    .iter()
                    .map(|s| words::when(s.start))
                    .collect();
                format!(
                    " Nothing else is open that day; the next openings are {}.",
                    times.join("; ")
                )
            }
            _ => String::new(),
        }
    }

    fn too_soon(&self, practice: &Practice, start: DateTime) -> Option<Done> {
        let earliest = self.now_at(practice).datetime()
            + i64::from(practice.profile.booking.min_notice_minutes).minutes();
        (start < earliest).then(|| {
            Done::failed(
                format!(
                    "{} has passed or is too soon to book. Ask the caller for a later time.",
                    words::when(start)
                ),
                "start too soon",
                Vec::new(),
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn book(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        identity: &Identity,
        start: DateTime,
        length_minutes: Option<u32>,
        provider: Option<ProviderId>,
        reason: Option<Phi<String>>,
    ) -> Done {
        let patient = match self.verified(practice, call, identity).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let who = vec![patient.id.clone()];
        if let Err(done) = Self::bookable_date(practice, start.date(), self.now_at(practice).date())
        {
            return Done {
                patients: who,
                ..done
            };
        }
        if let Some(done) = self.too_soon(practice, start) {
            return Done {
                patients: who,
                ..done
            };
        }
        let providers = match Self::known_provider(practice, provider.as_ref()).await {
            Ok(p) => p,
            Err(done) => {
                return Done {
                    patients: who,
                    ..done
                };
            }
        };
        let length = length_minutes.unwrap_or(practice.profile.booking.default_length_minutes);
        let account = &practice.profile.account_id;
        let key = format!(
            "book|{}|{start}|{}",
            patient.id,
            provider.as_ref().map_or("*", |p| p.as_str())
        );
        if let Some(entry) = self.ledger.get(account, &key) {
            return repeat_answer("booking", &entry, who);
        }
        match self.existing_at(practice, &patient, start, length).await {
            Ok(Some(existing)) if existing.start != start => {
                return Done::failed(
                    format!(
                        "{} already has an appointment at {} with {} that overlaps this time (reference {}). Offer another time, or reschedule that appointment instead.",
                        patient.first_name.expose(),
                        words::when(existing.start),
                        name_of(&providers, &existing.provider_id),
                        existing.id
                    ),
                    "overlaps the patient's own appointment",
                    who,
                );
            }
            Ok(Some(existing)) => {
                return Done::ok(
                    format!(
                        "{} already has an appointment at {} with {} (reference {}). Nothing new was booked.",
                        patient.first_name.expose(),
                        words::when(existing.start),
                        name_of(&providers, &existing.provider_id),
                        existing.id
                    ),
                    who,
                );
            }
            Ok(None) => {}
            Err(e) => return Done::pms(&e, who),
        }

        let end = start + i64::from(length).minutes();
        let overlapping = self
            .ledger
            .pending_for(account, &patient.id)
            .into_iter()
            .find(|e| {
                e.slot
                    .as_ref()
                    .is_some_and(|b| b.start < end && b.end > start)
            });
        if let Some(entry) = overlapping {
            return Done::failed(
                format!(
                    "{} already has a request pending for {} that overlaps this time (reference {}). Offer another time.",
                    patient.first_name.expose(),
                    entry.summary,
                    entry.reference
                ),
                "overlaps the patient's pending request",
                who,
            );
        }

        let lock = self.booking_lock(account);
        let guard = lock.lock().await;
        let busy = self.ledger.busy(account, start.date(), start.date());
        let now = self.now_at(practice);
        let slot = match availability::find_slot(
            practice.pms.as_ref(),
            &practice.profile.booking,
            &now,
            &busy,
            start,
            length,
            provider.as_ref(),
            None,
        )
        .await
        {
            Ok(Some(slot)) => slot,
            Ok(None) => {
                drop(guard);
                let with = provider
                    .as_ref()
                    .map(|p| format!(" with {}", name_of(&providers, p)))
                    .unwrap_or_default();
                let others = self.other_times(practice, start, length, provider).await;
                return Done::failed(
                    format!(
                        "{}{with} is not available.{others} Ask the caller which they prefer.",
                        words::when(start)
                    ),
                    "slot not available",
                    who,
                );
            }
            Err(e) => return Done::pms(&e, who),
        };
        let summary = format!(
            "{} with {} ({} minutes)",
            words::when(start),
            name_of(&providers, &slot.provider_id),
            length
        );
        if let Err(done) = self
            .intend(practice, call, Tool::BookAppointment, &who)
            .await
        {
            return done;
        }
        let written = practice
            .pms
            .book(NewAppointment {
                patient_id: patient.id.clone(),
                provider_id: slot.provider_id.clone(),
                operatory_id: slot.operatory_id.clone(),
                start,
                length_minutes: length,
                description: reason
                    .unwrap_or_else(|| Phi::new("Appointment booked by phone".to_owned())),
                note: None,
            })
            .await;
        let writeback = match written {
            Ok(w) => w,
            Err(e) => return Done::pms(&e, who),
        };
        self.remember(
            account,
            key,
            &writeback,
            &patient,
            Some(held(&slot, length)),
            &summary,
        );
        drop(guard);
        self.settle_and_report(
            practice,
            call,
            &patient,
            writeback,
            Written {
                tool: Tool::BookAppointment,
                verb: "Booked",
                summary: &summary,
            },
        )
        .await
    }

    /// Remembers a write under its business key, holding its slot if it takes one.
    pub(super) fn remember(
        &self,
        account: &crate::pms::AccountId,
        key: String,
        writeback: &crate::pms::Writeback,
        patient: &Patient,
        slot: Option<Busy>,
        summary: &str,
    ) {
        let entry = LedgerEntry::new(
            writeback.id.clone(),
            patient.id.clone(),
            slot,
            summary.to_owned(),
        );
        self.ledger.insert(account, key, entry);
    }

    /// Waits, within the confirm budget, for the practice to apply a write, then says what
    /// happened.
    pub(super) async fn settle_and_report(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        patient: &Patient,
        writeback: crate::pms::Writeback,
        what: Written<'_>,
    ) -> Done {
        let settled = self.settle_now(practice, writeback).await;
        self.report_write(practice, call, patient, settled, what)
    }

    /// Turns a write's state into the truthful answer, and follows it up if still pending.
    pub(super) fn report_write(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        patient: &Patient,
        settled: crate::pms::Writeback,
        what: Written<'_>,
    ) -> Done {
        let Written {
            tool,
            verb,
            summary,
        } = what;
        let who = vec![patient.id.clone()];
        let account = &practice.profile.account_id;
        let first = patient.first_name.expose();
        match settled.state.clone() {
            WritebackState::Applied { created_id } => {
                let reference = created_id.clone().unwrap_or_else(|| settled.id.to_string());
                self.ledger
                    .settle(account, &settled.id, settled.state, created_id);
                Done::ok(
                    format!(
                        "{verb} and confirmed by the practice's system for {first}: {summary}. Reference {reference}."
                    ),
                    who,
                )
            }
            WritebackState::Pending => {
                self.settle_later(
                    practice.clone(),
                    call,
                    tool,
                    settled.clone(),
                    patient.id.clone(),
                );
                Done::pending(
                    format!(
                        "Sent to the practice's system for {first}: {summary}, but it is not confirmed yet. Tell the caller it is pending confirmation and the office will confirm. Reference {}.",
                        settled.id
                    ),
                    who,
                )
            }
            WritebackState::Failed { reason } => {
                self.ledger
                    .settle(account, &settled.id, settled.state.clone(), None);
                Done::failed(
                    format!(
                        "The practice's system did not accept this ({summary}): {reason}. Nothing was changed. Apologise and offer another option."
                    ),
                    "writeback failed",
                    who,
                )
            }
        }
    }

    async fn existing_at(
        &self,
        practice: &Practice,
        patient: &Patient,
        start: DateTime,
        length: u32,
    ) -> Result<Option<Appointment>, PmsError> {
        let end = start + i64::from(length).minutes();
        let appointments = practice.pms.appointments_for_patient(&patient.id).await?;
        Ok(appointments
            .into_iter()
            .filter(|a| a.status.holds_slot() && a.start < end && a.end() > start)
            .min_by_key(|a| a.start != start))
    }

    /// The verified patient's own, still-upcoming appointment; anything else reads as not found.
    async fn own_appointment(
        &self,
        practice: &Practice,
        patient: &Patient,
        id: &AppointmentId,
    ) -> Result<Appointment, Done> {
        let who = vec![patient.id.clone()];
        let not_found = || {
            Done::failed(
                format!(
                    "No upcoming appointment {id} was found for {}. Call get_appointments to see their appointments.",
                    patient.first_name.expose()
                ),
                "appointment not found for this patient",
                who.clone(),
            )
        };
        let appointment = match practice.pms.appointment(id).await {
            Ok(a) => a,
            Err(PmsError::NotFound) => return Err(not_found()),
            Err(e) => return Err(Done::pms(&e, who)),
        };
        if appointment.patient_id != patient.id
            || appointment.start < self.now_at(practice).datetime()
        {
            return Err(not_found());
        }
        Ok(appointment)
    }

    pub(super) async fn cancel(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        identity: &Identity,
        id: &AppointmentId,
        reason: Option<Phi<String>>,
    ) -> Done {
        let patient = match self.verified(practice, call, identity).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let who = vec![patient.id.clone()];
        let account = &practice.profile.account_id;
        let key = format!("cancel|{id}");
        if let Some(entry) = self.ledger.get(account, &key) {
            return repeat_answer("cancellation", &entry, who);
        }
        let appointment = match self.own_appointment(practice, &patient, id).await {
            Ok(a) => a,
            Err(done) => return done,
        };
        if !appointment.status.holds_slot() {
            return Done::ok(
                format!(
                    "The appointment on {} is already cancelled.",
                    words::when(appointment.start)
                ),
                who,
            );
        }
        let providers = practice.pms.providers().await.unwrap_or_default();
        let summary = format!(
            "cancel {} with {}",
            words::when(appointment.start),
            name_of(&providers, &appointment.provider_id)
        );
        if let Err(done) = self
            .intend(practice, call, Tool::CancelAppointment, &who)
            .await
        {
            return done;
        }
        let writeback = match practice.pms.cancel(id, reason).await {
            Ok(w) => w,
            Err(e) => return Done::pms(&e, who),
        };
        self.remember(account, key, &writeback, &patient, None, &summary);
        let what = Written {
            tool: Tool::CancelAppointment,
            verb: "Cancellation done",
            summary: &summary,
        };
        self.settle_and_report(practice, call, &patient, writeback, what)
            .await
    }

    pub(super) async fn reschedule(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        identity: &Identity,
        id: &AppointmentId,
        start: DateTime,
        provider: Option<ProviderId>,
    ) -> Done {
        let patient = match self.verified(practice, call, identity).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let who = vec![patient.id.clone()];
        if let Some(done) = self.too_soon(practice, start) {
            return Done {
                patients: who,
                ..done
            };
        }
        if let Err(done) = Self::bookable_date(practice, start.date(), self.now_at(practice).date())
        {
            return Done {
                patients: who,
                ..done
            };
        }
        let account = &practice.profile.account_id;
        let key = format!("reschedule|{id}|{start}");
        if let Some(entry) = self.ledger.get(account, &key) {
            return repeat_answer("reschedule", &entry, who);
        }
        let appointment = match self.own_appointment(practice, &patient, id).await {
            Ok(a) if a.status.holds_slot() => a,
            Ok(a) => {
                return Done::failed(
                    format!(
                        "The appointment on {} was cancelled; book a new one instead.",
                        words::when(a.start)
                    ),
                    "appointment cancelled",
                    who,
                );
            }
            Err(done) => return done,
        };
        let providers = match Self::known_provider(practice, provider.as_ref()).await {
            Ok(p) => p,
            Err(done) => {
                return Done {
                    patients: who,
                    ..done
                };
            }
        };
        let provider = provider.unwrap_or_else(|| appointment.provider_id.clone());
        let length = appointment.length_minutes;
        let lock = self.booking_lock(account);
        let guard = lock.lock().await;
        let busy = self.ledger.busy(account, start.date(), start.date());
        let now = self.now_at(practice);
        let slot = match availability::find_slot(
            practice.pms.as_ref(),
            &practice.profile.booking,
            &now,
            &busy,
            start,
            length,
            Some(&provider),
            Some(&appointment.id),
        )
        .await
        {
            Ok(Some(slot)) => slot,
            Ok(None) => {
                drop(guard);
                let others = self
                    .other_times(practice, start, length, Some(provider.clone()))
                    .await;
                return Done::failed(
                    format!(
                        "{} with {} is not available.{others} Ask the caller which they prefer.",
                        words::when(start),
                        name_of(&providers, &provider)
                    ),
                    "slot not available",
                    who,
                );
            }
            Err(e) => return Done::pms(&e, who),
        };
        let summary = format!(
            "move {} to {} with {}",
            words::when(appointment.start),
            words::when(start),
            name_of(&providers, &slot.provider_id)
        );
        let to = Reschedule {
            provider_id: slot.provider_id.clone(),
            operatory_id: Some(slot.operatory_id.clone()),
            start,
            length_minutes: length,
        };
        if let Err(done) = self
            .intend(practice, call, Tool::RescheduleAppointment, &who)
            .await
        {
            return done;
        }
        let writeback = match practice.pms.reschedule(id, to).await {
            Ok(w) => w,
            Err(e) => return Done::pms(&e, who),
        };
        self.remember(
            account,
            key,
            &writeback,
            &patient,
            Some(held(&slot, length)),
            &summary,
        );
        drop(guard);
        self.settle_and_report(
            practice,
            call,
            &patient,
            writeback,
            Written {
                tool: Tool::RescheduleAppointment,
                verb: "Rescheduled",
                summary: &summary,
            },
        )
        .await
    }

    pub(super) async fn appointments(
        &self,
        practice: &Practice,
        call: &CallInfo,
        identity: &Identity,
    ) -> Done {
        let patient = match self.verified(practice, call, identity).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let who = vec![patient.id.clone()];
        let now = self.now_at(practice).datetime();
        let (appointments, providers) = match tokio::try_join!(
            practice.pms.appointments_for_patient(&patient.id),
            practice.pms.providers()
        ) {
            Ok(both) => both,
            Err(e) => return Done::pms(&e, who),
        };
        let mut upcoming: Vec<&Appointment> = appointments
            .iter()
            .filter(|a| a.start >= now && a.status.holds_slot())
            .collect();
        upcoming.sort_by_key(|a| a.start);
        upcoming.truncate(6);
        let pending = self
            .ledger
            .pending_for(&practice.profile.account_id, &patient.id);
        let body = json!({
            "patient_id": patient.id,
            "first_name": patient.first_name.expose(),
            "appointments": upcoming.iter().map(|a| json!({
                "appointment_id": a.id,
                "date": a.start.date().to_string(),
                "day": words::day(a.start.date()),
                "time": words::hhmm(a.start.time()),
                "length_minutes": a.length_minutes,
                "provider": name_of(&providers, &a.provider_id),
                "description": a.description.as_ref().map(|d| d.expose().as_str()),
            })).collect::<Vec<_>>(),
            "pending_requests": pending.iter().map(|e| json!({"reference": e.reference, "summary": e.summary})).collect::<Vec<_>>(),
        });
        Done::ok(body.to_string(), who)
    }

    pub(super) async fn list_providers(&self, practice: &Practice) -> Done {
        match practice.pms.providers().await {
            Ok(providers) => {
                let list: Vec<_> = providers
                    .iter()
                    .filter(|p| p.active)
                    .map(|p| json!({"provider_id": p.id, "name": p.display_name, "role": p.role}))
                    .collect();
                Done::ok(
                    json!({"practice": practice.profile.name, "providers": list}).to_string(),
                    Vec::new(),
                )
            }
            Err(e) => Done::pms(&e, Vec::new()),
        }
    }
}

/// The slot a booking takes, held in the ledger until the practice's records show it.
fn held(slot: &Slot, length: u32) -> Busy {
    Busy {
        provider_id: slot.provider_id.clone(),
        operatory_id: Some(slot.operatory_id.clone()),
        start: slot.start,
        end: slot.start + i64::from(length).minutes(),
    }
}

/// What a write was, for its answer: "Booked … Tuesday, December 1 at 9:00 AM with Dr. Lee".
pub(super) struct Written<'a> {
    pub tool: Tool,
    pub verb: &'a str,
    pub summary: &'a str,
}

/// The answer for a write this gateway already made (same business key).
fn repeat_answer(what: &str, entry: &LedgerEntry, who: Vec<crate::pms::PatientId>) -> Done {
    match &entry.state {
        WritebackState::Applied { .. } => Done::ok(
            format!(
                "This {what} was already made and confirmed: {}. Reference {}. Nothing new was done.",
                entry.summary, entry.reference
            ),
            who,
        ),
        _ => Done::pending(
            format!(
                "This {what} was already requested: {}; it is still pending confirmation by the practice's system. Reference {}. Nothing new was done.",
                entry.summary, entry.reference
            ),
            who,
        ),
    }
}
