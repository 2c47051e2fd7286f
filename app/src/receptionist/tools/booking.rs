//! The appointment tools: booking, cancelling, rescheduling, and a patient's upcoming visits.
//! Writes re-check the slot, then claim it with their business key ([`WriteKey`]) in the write
//! ledger before the practice's system is asked: the claim is atomic (in one process, or a
//! conditional write in the shared table), so of two callers deciding on one slot on any tasks,
//! one books and the other hears it was just taken, with other times. They report truthfully whether the practice's system applied them
//! (confirmed), has not yet (pending), or refused (failed).

use jiff::{ToSpan, civil::DateTime};
use serde_json::json;

use super::{
    Ctx, Refused, Work, Written, availability::other_times, held as held_slot, name_of,
    repeat_answer, state_down,
};
use crate::{
    pms::{
        Appointment, AppointmentId, NewAppointment, Patient, Phi, PmsError, Provider, ProviderId,
        Reschedule,
    },
    receptionist::{Identity, LedgerEntry, Outcome, Tool, WriteKey, slots, slots::Slot, words},
};

#[derive(Debug, Clone)]
pub struct BookAppointment {
    pub identity: Identity,
    pub date: jiff::civil::Date,
    pub time: jiff::civil::Time,
    /// The practice's default when not given.
    pub length_minutes: Option<u32>,
    /// Any provider free at that time when not given.
    pub provider: Option<ProviderId>,
    pub reason: Option<Phi<String>>,
}

#[derive(Debug, Clone)]
pub struct CancelAppointment {
    pub identity: Identity,
    pub appointment: AppointmentId,
    pub reason: Option<Phi<String>>,
}

#[derive(Debug, Clone)]
pub struct RescheduleAppointment {
    pub identity: Identity,
    pub appointment: AppointmentId,
    pub date: jiff::civil::Date,
    pub time: jiff::civil::Time,
    /// The appointment's own provider when not given.
    pub provider: Option<ProviderId>,
}

#[derive(Debug, Clone)]
pub struct GetAppointments {
    pub identity: Identity,
}

impl Work for BookAppointment {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let who = vec![patient.id.clone()];
        let start = self.date.to_datetime(self.time);
        let checked = async {
            cx.bookable_date(start.date())?;
            cx.not_too_soon(start)?;
            cx.providers(self.provider.as_ref()).await
        };
        let providers = match checked.await {
            Ok(providers) => providers,
            Err(refused) => return refused.about(who),
        };
        let booking = &cx.practice.profile.booking;
        let length = self
            .length_minutes
            .unwrap_or(booking.default_length_minutes);
        let key = WriteKey::Booking {
            patient: patient.id.clone(),
            start,
            provider: self.provider.clone(),
        };
        if let Err(answer) = own_clash(cx, &patient, &key, length, &providers).await {
            return answer;
        }
        let summary = |slot: &Slot| {
            format!(
                "{} with {} ({} minutes)",
                words::when(start),
                name_of(&providers, &slot.provider_id),
                length
            )
        };
        let wanted = Wanted {
            start,
            length,
            provider: self.provider,
            moving: None,
        };
        let taken = take_slot(cx, &wanted, &providers, &key, &patient, summary).await;
        let (slot, claimed) = match taken {
            Ok(taken) => taken,
            Err(refused) => return refused.about(who),
        };
        let summary = summary(&slot);
        if let Err(refused) = cx.intend(Tool::BookAppointment, &who).await {
            cx.release(&claimed).await;
            return refused;
        }
        let written = cx
            .practice
            .pms
            .book(NewAppointment {
                patient_id: patient.id.clone(),
                provider_id: slot.provider_id.clone(),
                operatory_id: slot.operatory_id.clone(),
                start,
                length_minutes: length,
                description: self
                    .reason
                    .unwrap_or_else(|| Phi::new("Appointment booked by phone".to_owned())),
                note: None,
            })
            .await;
        let what = Written {
            tool: Tool::BookAppointment,
            verb: "Booked",
            summary: &summary,
            claimed: Some(&claimed),
            at: Some(start),
        };
        cx.sent(&patient, written, what).await
    }
}

/// The booking already made under `key` (on any task), answered again; else refuses one that
/// overlaps the patient's own appointment or a write of theirs the practice may not show yet,
/// and answers (as done) one that is exactly an appointment they already have.
async fn own_clash(
    cx: &Ctx<'_>,
    patient: &Patient,
    key: &WriteKey,
    length: u32,
    providers: &[Provider],
) -> Result<(), Outcome> {
    let WriteKey::Booking { start, .. } = *key else {
        return Ok(());
    };
    let who = vec![patient.id.clone()];
    let first = patient.first_name.expose();
    let end = start + i64::from(length).minutes();
    let written = cx
        .desk
        .writebacks
        .ledger()
        .live_for(cx.account(), &patient.id);
    let written = written.await.map_err(|e| state_down(&e, &who))?;
    let digest = key.digest();
    if let Some(made) = written.iter().find(|e| e.key == digest) {
        return Err(repeat_answer("booking", made, who));
    }
    let appointments = cx
        .practice
        .pms
        .appointments_for_patient(&patient.id)
        .await
        .map_err(|e| Outcome::pms(&e, who.clone()))?;
    let existing = appointments
        .into_iter()
        .filter(|a| a.status.holds_slot() && a.start < end && a.end() > start)
        .min_by_key(|a| a.start != start);
    if let Some(existing) = existing {
        let at = words::when(existing.start);
        let with = name_of(providers, &existing.provider_id);
        return Err(if existing.start == start {
            Outcome::ok(
                format!(
                    "{first} already has an appointment at {at} with {with} (reference {}). Nothing new was booked.",
                    existing.id
                ),
                who,
            )
        } else {
            Outcome::failed(
                format!(
                    "{first} already has an appointment at {at} with {with} that overlaps this time (reference {}). Offer another time, or reschedule that appointment instead.",
                    existing.id
                ),
                "overlaps the patient's own appointment",
                who,
            )
        });
    }
    let overlapping = written.into_iter().find(|e| {
        e.slot
            .as_ref()
            .is_some_and(|b| b.start < end && b.end > start)
    });
    match overlapping {
        Some(entry) => Err(Outcome::failed(
            format!(
                "{first} already has a request {} for {} that overlaps this time (reference {}). Offer another time.",
                if entry.pending() {
                    "pending"
                } else {
                    "just made"
                },
                entry.summary,
                entry.reference
            ),
            "overlaps the patient's pending request",
            who,
        )),
        None => Ok(()),
    }
}

/// The time a write wants: `length` minutes from `start`, with `provider` or anyone; `moving`
/// is the appointment a reschedule moves (its own time does not count as busy).
struct Wanted<'a> {
    start: DateTime,
    length: u32,
    provider: Option<ProviderId>,
    moving: Option<&'a AppointmentId>,
}

/// Re-checks that the wanted time is free and claims it, with the write's business key, in the
/// ledger. Returns the slot and the claim's key; or the refusal, with the times the practice
/// can offer instead.
async fn take_slot(
    cx: &Ctx<'_>,
    wanted: &Wanted<'_>,
    providers: &[Provider],
    key: &WriteKey,
    patient: &Patient,
    summary: impl Fn(&Slot) -> String,
) -> Result<(Slot, String), Outcome> {
    let Wanted {
        start,
        length,
        ref provider,
        moving,
    } = *wanted;
    let day = start.date();
    let held = cx
        .desk
        .writebacks
        .ledger()
        .busy(cx.account(), day, day)
        .await;
    let held = held.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "held slots unavailable; the claim decides");
        Vec::new()
    });
    let found = slots::find_slot(
        cx.practice.pms.as_ref(),
        &cx.practice.profile.booking,
        &cx.now(),
        &held,
        start,
        length,
        provider.as_ref(),
        moving,
    )
    .await;
    let with = provider
        .as_ref()
        .map(|p| format!(" with {}", name_of(providers, p)))
        .unwrap_or_default();
    let slot = match found {
        Ok(Some(slot)) => slot,
        Ok(None) => {
            let others = other_times(cx, start, length, provider.clone(), None).await;
            return Err(Outcome::failed(
                format!(
                    "{}{with} is not available.{others} Ask the caller which they prefer.",
                    words::when(start)
                ),
                "slot not available",
                Vec::new(),
            ));
        }
        Err(e) => return Err(Outcome::pms(&e, Vec::new())),
    };
    let hold = held_slot(&slot, length);
    match cx
        .claim(key, &patient.id, Some(hold.clone()), &summary(&slot))
        .await
    {
        Ok(claimed) => Ok((slot, claimed)),
        Err(Refused::Answer(answer)) => Err(answer),
        Err(Refused::Taken) => {
            let others = other_times(cx, start, length, provider.clone(), Some(&hold)).await;
            Err(Outcome::failed(
                format!(
                    "{}{with} was just taken by another caller.{others} Ask the caller which they prefer.",
                    words::when(start)
                ),
                "slot just taken by another write",
                Vec::new(),
            ))
        }
    }
}

/// The verified patient's own, still-upcoming appointment; anything else reads as not found.
async fn own_appointment(
    cx: &Ctx<'_>,
    patient: &Patient,
    id: &AppointmentId,
) -> Result<Appointment, Outcome> {
    let who = vec![patient.id.clone()];
    let not_found = || {
        Outcome::failed(
            format!(
                "No upcoming appointment {id} was found for {}. Call get_appointments to see their appointments.",
                patient.first_name.expose()
            ),
            "appointment not found for this patient",
            who.clone(),
        )
    };
    let appointment = match cx.practice.pms.appointment(id).await {
        Ok(a) => a,
        Err(PmsError::NotFound) => return Err(not_found()),
        Err(e) => return Err(Outcome::pms(&e, who)),
    };
    if appointment.patient_id != patient.id || appointment.start < cx.now().datetime() {
        return Err(not_found());
    }
    Ok(appointment)
}

impl Work for CancelAppointment {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let who = vec![patient.id.clone()];
        let id = &self.appointment;
        let key = WriteKey::Cancellation {
            appointment: id.clone(),
        };
        if let Some(again) = cx.made_before(&key, "cancellation", &who).await {
            return again;
        }
        let appointment = match own_appointment(cx, &patient, id).await {
            Ok(a) => a,
            Err(refused) => return refused,
        };
        if !appointment.status.holds_slot() {
            return Outcome::ok(
                format!(
                    "The appointment on {} is already cancelled.",
                    words::when(appointment.start)
                ),
                who,
            );
        }
        let providers = cx.practice.pms.providers().await.unwrap_or_default();
        let summary = format!(
            "cancel {} with {}",
            words::when(appointment.start),
            name_of(&providers, &appointment.provider_id)
        );
        let claimed = match cx.claim(&key, &patient.id, None, &summary).await {
            Ok(claimed) => claimed,
            Err(Refused::Answer(answer)) => return answer,
            Err(Refused::Taken) => unreachable!("a cancellation holds no slot"),
        };
        if let Err(refused) = cx.intend(Tool::CancelAppointment, &who).await {
            cx.release(&claimed).await;
            return refused;
        }
        let written = cx.practice.pms.cancel(id, self.reason).await;
        let what = Written {
            tool: Tool::CancelAppointment,
            verb: "Cancellation done",
            summary: &summary,
            claimed: Some(&claimed),
            at: Some(appointment.start),
        };
        cx.sent(&patient, written, what).await
    }
}

impl Work for RescheduleAppointment {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let who = vec![patient.id.clone()];
        let start = self.date.to_datetime(self.time);
        let checked = cx
            .not_too_soon(start)
            .and_then(|()| cx.bookable_date(start.date()));
        if let Err(refused) = checked {
            return refused.about(who);
        }
        let id = &self.appointment;
        let key = WriteKey::Reschedule {
            appointment: id.clone(),
            start,
        };
        if let Some(again) = cx.made_before(&key, "reschedule", &who).await {
            return again;
        }
        let appointment = match own_appointment(cx, &patient, id).await {
            Ok(a) if a.status.holds_slot() => a,
            Ok(a) => {
                return Outcome::failed(
                    format!(
                        "The appointment on {} was cancelled; book a new one instead.",
                        words::when(a.start)
                    ),
                    "appointment cancelled",
                    who,
                );
            }
            Err(refused) => return refused,
        };
        let providers = match cx.providers(self.provider.as_ref()).await {
            Ok(p) => p,
            Err(refused) => return refused.about(who),
        };
        let provider = self
            .provider
            .unwrap_or_else(|| appointment.provider_id.clone());
        let length = appointment.length_minutes;
        let summary = |slot: &Slot| {
            format!(
                "move {} to {} with {}",
                words::when(appointment.start),
                words::when(start),
                name_of(&providers, &slot.provider_id)
            )
        };
        let wanted = Wanted {
            start,
            length,
            provider: Some(provider),
            moving: Some(id),
        };
        let taken = take_slot(cx, &wanted, &providers, &key, &patient, summary).await;
        let (slot, claimed) = match taken {
            Ok(taken) => taken,
            Err(refused) => return refused.about(who),
        };
        let summary = summary(&slot);
        let to = Reschedule {
            provider_id: slot.provider_id.clone(),
            operatory_id: Some(slot.operatory_id.clone()),
            start,
            length_minutes: length,
        };
        if let Err(refused) = cx.intend(Tool::RescheduleAppointment, &who).await {
            cx.release(&claimed).await;
            return refused;
        }
        let written = cx.practice.pms.reschedule(id, to).await;
        let what = Written {
            tool: Tool::RescheduleAppointment,
            verb: "Rescheduled",
            summary: &summary,
            claimed: Some(&claimed),
            at: Some(start),
        };
        cx.sent(&patient, written, what).await
    }
}

impl Work for GetAppointments {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let who = vec![patient.id.clone()];
        let now = cx.now().datetime();
        let pms = &cx.practice.pms;
        let (appointments, providers) =
            match tokio::try_join!(pms.appointments_for_patient(&patient.id), pms.providers()) {
                Ok(both) => both,
                Err(e) => return Outcome::pms(&e, who),
            };
        let mut upcoming: Vec<&Appointment> = appointments
            .iter()
            .filter(|a| a.start >= now && a.status.holds_slot())
            .collect();
        upcoming.sort_by_key(|a| a.start);
        upcoming.truncate(6);
        let pending = cx
            .desk
            .writebacks
            .ledger()
            .live_for(cx.account(), &patient.id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "pending writes unavailable; listing the practice's");
                Vec::new()
            })
            .into_iter()
            .filter(LedgerEntry::pending)
            .collect::<Vec<_>>();
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
        Outcome::ok(body.to_string(), who)
    }
}
