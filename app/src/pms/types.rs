//! The practice-system domain: what a PMS holds (patients, providers, operatories, schedules,
//! appointments) and what a write to it becomes (a [`Writeback`], applied later by the PMS).
//! Times are the practice's wall-clock time (`jiff::civil`); the practice profile knows the zone.

use jiff::civil::{Date, DateTime, Time};
use serde::Serialize;

use super::{AppointmentId, E164, OperatoryId, PatientId, Phi, ProviderId, WritebackId};

#[derive(Debug, Clone)]
pub struct Patient {
    pub id: PatientId,
    pub first_name: Phi<String>,
    pub last_name: Phi<String>,
    pub preferred_name: Option<Phi<String>>,
    pub birth_date: Option<Phi<Date>>,
    /// Every number on file (cell first, then home and work), normalised.
    pub phones: Phi<Vec<E164>>,
    pub email: Option<Phi<String>>,
    pub guarantor_id: Option<PatientId>,
    pub provider_id: Option<ProviderId>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub id: ProviderId,
    /// How the practice names them to patients ("Dr. Maya Lee").
    pub display_name: String,
    /// `dentist`, `hygienist`, …
    pub role: String,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Operatory {
    pub id: OperatoryId,
    pub name: String,
    pub hidden: bool,
}

/// A span of a day when a provider (or, with `provider_id: None`, every provider) can be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenBlock {
    pub provider_id: Option<ProviderId>,
    pub start: Time,
    pub end: Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppointmentStatus {
    Scheduled,
    Confirmed,
    Completed,
    Cancelled,
    Broken,
    Other(String),
}

impl AppointmentStatus {
    /// Whether the appointment still occupies its slot.
    pub fn holds_slot(&self) -> bool {
        !matches!(self, Self::Cancelled | Self::Broken)
    }
}

#[derive(Debug, Clone)]
pub struct Appointment {
    pub id: AppointmentId,
    pub patient_id: PatientId,
    pub provider_id: ProviderId,
    pub operatory_id: Option<OperatoryId>,
    pub start: DateTime,
    pub length_minutes: u32,
    pub status: AppointmentStatus,
    /// The visit type or reason ("Cleaning"). Patient data.
    pub description: Option<Phi<String>>,
}

impl Appointment {
    pub fn end(&self) -> DateTime {
        self.start + jiff::Span::new().minutes(i64::from(self.length_minutes))
    }
}

#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub patient_id: PatientId,
    pub provider_id: ProviderId,
    pub operatory_id: OperatoryId,
    pub start: DateTime,
    pub length_minutes: u32,
    pub description: Phi<String>,
    pub note: Option<Phi<String>>,
}

#[derive(Debug, Clone)]
pub struct Reschedule {
    pub provider_id: ProviderId,
    pub operatory_id: Option<OperatoryId>,
    pub start: DateTime,
    pub length_minutes: u32,
}

#[derive(Debug, Clone)]
pub struct NewPatient {
    pub first_name: Phi<String>,
    pub last_name: Phi<String>,
    pub birth_date: Phi<Date>,
    pub phone: Phi<E164>,
    pub email: Option<Phi<String>>,
    pub provider_id: ProviderId,
}

/// Changes to a patient's contact details; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PatientUpdate {
    pub phone: Option<Phi<E164>>,
    pub email: Option<Phi<String>>,
    pub preferred_name: Option<Phi<String>>,
}

impl PatientUpdate {
    pub fn is_empty(&self) -> bool {
        self.phone.is_none() && self.email.is_none() && self.preferred_name.is_none()
    }
}

/// Filters for a patient lookup; every field set must match.
#[derive(Debug, Clone, Default)]
pub struct PatientQuery {
    pub phone: Option<E164>,
    pub first_name: Option<Phi<String>>,
    pub last_name: Option<Phi<String>>,
    pub birth_date: Option<Phi<Date>>,
}

/// A write handed to the PMS. Sikka applies writes asynchronously; so does the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writeback {
    pub id: WritebackId,
    pub state: WritebackState,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WritebackState {
    /// Queued; the practice's system has not applied it yet.
    Pending,
    /// Applied; `created_id` is the new record's PMS id when the write created one.
    Applied { created_id: Option<String> },
    /// The practice's system refused or could not apply it.
    Failed { reason: String },
}
