//! The sandbox practice: an in-memory, deterministic [`PracticeSystem`] that behaves like a
//! practice reached through Sikka, writes included (validated at once, applied after a delay as
//! writebacks `WB-<n>`). Used by the `local` profile and by every domain test.
//!
//! Fixture facts (see [`fixture`]): "Bright Smile Dental", America/Los_Angeles; providers
//! `DDS1` Dr. Maya Lee, `DDS2` Dr. Samuel Ortiz, `HYG1` Priya Shah, RDH; operatories `OP1`–`OP3`
//! and a hidden `OP4`; patients `1001`–`1050`, the Garcia family (`1006`–`1009`) sharing
//! [`fixture::FAMILY_PHONE`], Walter Briggs (`1049`) inactive.

pub mod fixture;
#[cfg(test)]
mod scenarios;
mod state;
#[cfg(test)]
mod tests;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use jiff::civil::{Date, DateTime};
use serde::Deserialize;
use tokio::time::Instant;

use super::{
    Appointment, AppointmentId, E164, InvalidPhone, NewAppointment, NewPatient, OpenBlock,
    Operatory, Patient, PatientId, PatientQuery, PatientUpdate, Phi, PmsError, PmsResult,
    PracticeSystem, Provider, Reschedule, Writeback, WritebackId,
};
use state::{Op, State};

pub const SANDBOX_PRACTICE_NAME: &str = "Bright Smile Dental";
pub const SANDBOX_TIME_ZONE: &str = "America/Los_Angeles";

/// The first id given to a fixture appointment; later bookings continue the sequence.
const FIRST_APPOINTMENT_ID: u64 = 50_001;

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The practice-local "today"; fixture appointments are placed relative to it.
    pub today: Date,
    /// Writes apply this long after they are queued, like Sikka writebacks.
    pub write_delay: Duration,
    /// Patients added after the built-in ones (ids continue from `1051`), e.g. test canaries.
    pub extra_patients: Vec<SeedPatient>,
    /// Open blocks by weekday, Monday first, instead of the fixture's (see [`parse_schedule`]).
    pub schedule: Option<WeeklySchedule>,
}

/// Open blocks by weekday, Monday first.
pub type WeeklySchedule = [Vec<OpenBlock>; 7];

/// One provider's open block in a schedule file.
#[derive(Deserialize)]
struct BlockSeed {
    provider_id: String,
    start: jiff::civil::Time,
    end: jiff::civil::Time,
}

/// The days of a schedule file, in [`WeeklySchedule`]'s order (Monday first).
pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Reads a weekly schedule: `{"monday": [{"provider_id": "DDS1", "start": "08:00", "end":
/// "12:00"}, …], "tuesday": …}`; a day left out is closed.
pub fn parse_schedule(text: &str) -> Result<WeeklySchedule, String> {
    let mut days: std::collections::HashMap<String, Vec<BlockSeed>> =
        serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(other) = days.keys().find(|d| !WEEKDAYS.contains(&d.as_str())) {
        return Err(format!("{other:?} is not a day of the week"));
    }
    let mut week: WeeklySchedule = Default::default();
    for (n, day) in WEEKDAYS.iter().enumerate() {
        for b in days.remove(*day).unwrap_or_default() {
            if b.start >= b.end {
                return Err(format!("a block on {day} ends before it starts"));
            }
            week[n].push(OpenBlock {
                provider_id: Some(super::ProviderId::new(b.provider_id)),
                start: b.start,
                end: b.end,
            });
        }
    }
    Ok(week)
}

impl SandboxConfig {
    /// `today` with writes applied by the next call and no extra patients.
    pub fn new(today: Date) -> Self {
        Self {
            today,
            write_delay: Duration::ZERO,
            extra_patients: Vec::new(),
            schedule: None,
        }
    }

    /// Today's date at the sandbox practice, as `clock` reads it.
    pub fn practice_today(clock: &crate::clock::Clock) -> Date {
        let zone =
            jiff::tz::TimeZone::get(SANDBOX_TIME_ZONE).expect("the bundled tz database has it");
        clock.now().to_zoned_datetime(zone).date()
    }
}

/// A patient to add to the fixture.
#[derive(Clone, Deserialize)]
pub struct SeedPatient {
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Date,
    /// The mobile number: any common US form (`(310) 555-0100`, `310.555.0100`) or E.164.
    #[serde(default)]
    pub phone: Option<String>,
    /// The home number, in any of those forms.
    #[serde(default)]
    pub home_phone: Option<String>,
    /// The work number, in any of those forms (an extension is ignored).
    #[serde(default)]
    pub work_phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl SeedPatient {
    /// The patient's numbers, mobile first; fails when one is not a phone number.
    pub fn phones(&self) -> Result<Vec<E164>, InvalidPhone> {
        let mut phones: Vec<E164> = Vec::new();
        for raw in [&self.phone, &self.home_phone, &self.work_phone]
            .into_iter()
            .flatten()
        {
            let number = raw.split(['x', 'X']).next().unwrap_or(raw);
            let parsed = E164::parse(number)?;
            if !phones.contains(&parsed) {
                phones.push(parsed);
            }
        }
        Ok(phones)
    }
}

impl std::fmt::Debug for SeedPatient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedPatient([redacted])")
    }
}

pub struct SandboxPractice {
    providers: Vec<Provider>,
    operatories: Vec<Operatory>,
    /// Open blocks by weekday, Monday first.
    schedule: [Vec<OpenBlock>; 7],
    write_delay: Duration,
    state: Mutex<State>,
}

impl SandboxPractice {
    /// Builds the practice; fails only when an extra patient's phone is not a phone number.
    pub fn new(config: SandboxConfig) -> Result<Self, InvalidPhone> {
        let mut patients = fixture::patients();
        let builtin_appointments =
            fixture::appointments(config.today, FIRST_APPOINTMENT_ID, &patients);
        let first_extra = u64::from(fixture::FIRST_PATIENT_ID) + patients.len() as u64;
        for (number, seed) in (first_extra..).zip(config.extra_patients) {
            let id = PatientId::new(number.to_string());
            let phones = seed.phones()?;
            patients.push(Patient {
                id: id.clone(),
                first_name: Phi::new(seed.first_name),
                last_name: Phi::new(seed.last_name),
                preferred_name: None,
                birth_date: Some(Phi::new(seed.birth_date)),
                phones: Phi::new(phones),
                email: seed.email.map(Phi::new),
                guarantor_id: Some(id),
                provider_id: Some(super::ProviderId::new(fixture::DR_LEE)),
                active: true,
            });
        }
        let next_appointment = FIRST_APPOINTMENT_ID + builtin_appointments.len() as u64;
        Ok(Self {
            providers: fixture::providers(),
            operatories: fixture::operatories(),
            schedule: config.schedule.unwrap_or_else(fixture::weekly_schedule),
            write_delay: config.write_delay,
            state: Mutex::new(State::new(patients, builtin_appointments, next_appointment)),
        })
    }

    /// The state with every due writeback applied. Never held across an `.await`.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.apply_due(Instant::now());
        state
    }

    fn enqueue(&self, mut state: MutexGuard<'_, State>, op: Op) -> Writeback {
        state.enqueue(Instant::now() + self.write_delay, op)
    }

    fn known_provider(&self, id: &super::ProviderId) -> PmsResult<&Provider> {
        self.providers
            .iter()
            .find(|p| &p.id == id)
            .ok_or(PmsError::NotFound)
    }
}

fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn matches(patient: &Patient, query: &PatientQuery) -> bool {
    query
        .phone
        .as_ref()
        .is_none_or(|phone| patient.phones.expose().contains(phone))
        && query
            .first_name
            .as_ref()
            .is_none_or(|n| same_name(n.expose(), patient.first_name.expose()))
        && query
            .last_name
            .as_ref()
            .is_none_or(|n| same_name(n.expose(), patient.last_name.expose()))
        && query.birth_date.as_ref().is_none_or(|d| {
            patient
                .birth_date
                .as_ref()
                .is_some_and(|b| b.expose() == d.expose())
        })
}

#[async_trait]
impl PracticeSystem for SandboxPractice {
    fn kind(&self) -> &'static str {
        "sandbox"
    }

    async fn providers(&self) -> PmsResult<Vec<Provider>> {
        Ok(self.providers.clone())
    }

    async fn operatories(&self) -> PmsResult<Vec<Operatory>> {
        Ok(self.operatories.clone())
    }

    async fn open_blocks(&self, date: Date) -> PmsResult<Vec<OpenBlock>> {
        Ok(self.schedule[date.weekday().to_monday_zero_offset() as usize].clone())
    }

    async fn appointments_between(
        &self,
        from: DateTime,
        to: DateTime,
    ) -> PmsResult<Vec<Appointment>> {
        Ok(self.state().between(from, to))
    }

    async fn appointments_for_patient(&self, patient: &PatientId) -> PmsResult<Vec<Appointment>> {
        let state = self.state();
        if state.patient(patient).is_none() {
            return Err(PmsError::NotFound);
        }
        Ok(state
            .all_appointments()
            .filter(|a| &a.patient_id == patient)
            .cloned()
            .collect())
    }

    async fn appointment(&self, id: &AppointmentId) -> PmsResult<Appointment> {
        self.state()
            .appointment(id)
            .cloned()
            .ok_or(PmsError::NotFound)
    }

    async fn find_patients(&self, query: &PatientQuery) -> PmsResult<Vec<Patient>> {
        Ok(self
            .state()
            .patients()
            .iter()
            .filter(|p| matches(p, query))
            .cloned()
            .collect())
    }

    async fn patient(&self, id: &PatientId) -> PmsResult<Patient> {
        self.state().patient(id).cloned().ok_or(PmsError::NotFound)
    }

    async fn book(&self, appointment: NewAppointment) -> PmsResult<Writeback> {
        let state = self.state();
        let patient = state
            .patient(&appointment.patient_id)
            .ok_or(PmsError::NotFound)?;
        if !patient.active {
            return Err(PmsError::Rejected(
                "the patient's record is inactive".into(),
            ));
        }
        if !self.known_provider(&appointment.provider_id)?.active {
            return Err(PmsError::Rejected(
                "the provider is not taking appointments".into(),
            ));
        }
        if !self
            .operatories
            .iter()
            .any(|o| o.id == appointment.operatory_id)
        {
            return Err(PmsError::NotFound);
        }
        if appointment.length_minutes == 0 {
            return Err(PmsError::Rejected("an appointment needs a length".into()));
        }
        Ok(self.enqueue(state, Op::Book(appointment)))
    }

    async fn reschedule(&self, id: &AppointmentId, to: Reschedule) -> PmsResult<Writeback> {
        let state = self.state();
        state.appointment(id).ok_or(PmsError::NotFound)?;
        if !self.known_provider(&to.provider_id)?.active {
            return Err(PmsError::Rejected(
                "the provider is not taking appointments".into(),
            ));
        }
        if let Some(op) = &to.operatory_id
            && !self.operatories.iter().any(|o| &o.id == op)
        {
            return Err(PmsError::NotFound);
        }
        if to.length_minutes == 0 {
            return Err(PmsError::Rejected("an appointment needs a length".into()));
        }
        Ok(self.enqueue(state, Op::Reschedule(id.clone(), to)))
    }

    async fn cancel(&self, id: &AppointmentId, _note: Option<Phi<String>>) -> PmsResult<Writeback> {
        let state = self.state();
        state.appointment(id).ok_or(PmsError::NotFound)?;
        Ok(self.enqueue(state, Op::Cancel(id.clone())))
    }

    async fn create_patient(&self, patient: NewPatient) -> PmsResult<Writeback> {
        self.known_provider(&patient.provider_id)?;
        let state = self.state();
        let duplicate = PatientQuery {
            phone: None,
            first_name: Some(patient.first_name.clone()),
            last_name: Some(patient.last_name.clone()),
            birth_date: Some(patient.birth_date.clone()),
        };
        if state.patients().iter().any(|p| matches(p, &duplicate)) {
            return Err(PmsError::Conflict);
        }
        Ok(self.enqueue(state, Op::CreatePatient(patient)))
    }

    async fn update_patient(&self, id: &PatientId, update: PatientUpdate) -> PmsResult<Writeback> {
        let state = self.state();
        state.patient(id).ok_or(PmsError::NotFound)?;
        if update.is_empty() {
            return Err(PmsError::Rejected("nothing to change".into()));
        }
        Ok(self.enqueue(state, Op::UpdatePatient(id.clone(), update)))
    }

    async fn writeback(&self, id: &WritebackId) -> PmsResult<Writeback> {
        self.state().writeback(id).ok_or(PmsError::NotFound)
    }
}
