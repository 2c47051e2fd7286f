//! The practice-system port. [`PracticeSystem`] is what the receptionist needs from a PMS; the
//! adapters are `sandbox` (an in-memory demo practice) and `sikka` (a practice's own system
//! through Sikka's API).

mod ids;
mod phi;
pub mod sandbox;
pub mod sikka;
mod types;

use async_trait::async_trait;
use jiff::civil::{Date, DateTime};

pub use ids::{
    AccountId, AppointmentId, E164, InvalidPhone, OfficeId, OperatoryId, PatientId, ProviderId,
    WritebackId,
};
pub use phi::Phi;
pub use types::*;

/// What can go wrong talking to a practice's system, classified for the receptionist's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PmsError {
    #[error("not found")]
    NotFound,
    #[error("not supported by this practice's system: {0}")]
    Unsupported(&'static str),
    /// The practice's sync agent is offline: writes cannot be applied now.
    #[error("the practice's system is offline")]
    Offline,
    #[error("already exists")]
    Conflict,
    /// The PMS rejected the request's values; the message is safe to repeat to the caller.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("rate limited")]
    RateLimited,
    /// A passing fault (timeout, 5xx) that a retry may clear.
    #[error("temporarily unavailable: {0}")]
    Transient(String),
    /// Credentials or setup are wrong; staff must act.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
}

impl PmsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::RateLimited)
    }
}

pub type PmsResult<T> = Result<T, PmsError>;

/// One practice's management system. Reads may be stale (Sikka copies the PMS on a schedule);
/// writes return a [`Writeback`] whose state is polled with [`PracticeSystem::writeback`].
#[async_trait]
pub trait PracticeSystem: Send + Sync + 'static {
    /// `sandbox`, `sikka`, … (for audit and diagnostics).
    fn kind(&self) -> &'static str;

    async fn providers(&self) -> PmsResult<Vec<Provider>>;
    async fn operatories(&self) -> PmsResult<Vec<Operatory>>;
    /// When each provider can be booked on `date`; an empty list means the practice is closed.
    async fn open_blocks(&self, date: Date) -> PmsResult<Vec<OpenBlock>>;
    /// Appointments starting in `[from, to)`, every status.
    async fn appointments_between(
        &self,
        from: DateTime,
        to: DateTime,
    ) -> PmsResult<Vec<Appointment>>;
    async fn appointments_for_patient(&self, patient: &PatientId) -> PmsResult<Vec<Appointment>>;
    async fn appointment(&self, id: &AppointmentId) -> PmsResult<Appointment>;

    async fn find_patients(&self, query: &PatientQuery) -> PmsResult<Vec<Patient>>;
    async fn patient(&self, id: &PatientId) -> PmsResult<Patient>;

    async fn book(&self, appointment: NewAppointment) -> PmsResult<Writeback>;
    async fn reschedule(&self, id: &AppointmentId, to: Reschedule) -> PmsResult<Writeback>;
    async fn cancel(&self, id: &AppointmentId, note: Option<Phi<String>>) -> PmsResult<Writeback>;
    async fn create_patient(&self, patient: NewPatient) -> PmsResult<Writeback>;
    async fn update_patient(&self, id: &PatientId, update: PatientUpdate) -> PmsResult<Writeback>;
    async fn writeback(&self, id: &WritebackId) -> PmsResult<Writeback>;

    /// The practice's data or credentials changed (a Sikka webhook, onboarding): forget what is
    /// cached, so the next call reads afresh. Adapters without caches need not do anything.
    async fn refresh(&self) {}

    /// The Sikka connection behind this system, if it is one (for the practice doctor).
    fn sikka(&self) -> Option<&sikka::SikkaPractice> {
        None
    }
}
