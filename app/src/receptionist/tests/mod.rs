//! The receptionist's rules, tested in-process against the sandbox practice: no HTTP, a frozen
//! clock and an in-memory audit trail. [`Desk`] is one gateway's receptionist for the embedded
//! demo practice; each test asks it tools as Vapi would and reads what the caller hears, what
//! the practice's system holds and what the audit trail says.

mod audit_after_write;
mod booking;
mod idempotency;
mod patients;
mod verify;

use std::{sync::Arc, time::Duration};

use jiff::civil::{Date, Time};

use super::{CallInfo, Identity, Receptionist, Tool, ToolRequest, tools::availability};
use crate::{
    audit::{AuditEvent, memory::MemoryAudit},
    clock::Clock,
    config::ReceptionistSettings,
    pms::{E164, Phi, PracticeSystem, ProviderId},
    practices::{LocalDirectory, LocalOptions, MemoryCredentials, PracticeDirectory, PracticeKey},
};

/// Monday 2030-03-04, 07:00 at the demo practice (Los Angeles).
pub const MONDAY_MORNING: &str = "2030-03-04T15:00:00Z";
/// The practice's date then.
pub const TODAY: Date = Date::constant(2030, 3, 4);
/// Olivia Bennett's number: on file for her alone.
pub const OLIVIA_PHONE: &str = "+13105550100";
/// A number on file for nobody.
pub const STRANGER_PHONE: &str = "+14155550123";

/// One gateway's receptionist for the demo practice, on the sandbox.
pub struct Desk {
    pub receptionist: Arc<Receptionist>,
    pub audit: Arc<MemoryAudit>,
    pub pms: Arc<dyn PracticeSystem>,
    next_id: std::sync::atomic::AtomicU32,
}

impl Desk {
    /// At [`MONDAY_MORNING`]; the sandbox applies writes at once.
    pub async fn new() -> Self {
        Self::with_write_delay(Duration::ZERO).await
    }

    /// At [`MONDAY_MORNING`]; the sandbox applies writes after `write_delay`.
    pub async fn with_write_delay(write_delay: Duration) -> Self {
        let clock = Clock::frozen(MONDAY_MORNING.parse().expect("an instant"));
        let options = LocalOptions {
            write_delay,
            extra_patients: Vec::new(),
            sikka: None,
            credentials: Arc::new(MemoryCredentials::default()),
            clock,
            schedule: None,
            leases: Arc::new(crate::state::OneProcess),
        };
        let directory = Arc::new(LocalDirectory::load(None, &options).expect("the demo practice"));
        let practice = directory
            .by_phone_number_id("pn_demo")
            .await
            .expect("the directory answers")
            .expect("the demo practice");
        let audit = Arc::new(MemoryAudit::default());
        let settings = ReceptionistSettings {
            clock,
            confirm_wait: Duration::from_millis(300),
            poll_interval: Duration::from_millis(10),
            ..Default::default()
        };
        let receptionist = Receptionist::new(
            directory,
            audit.clone(),
            crate::state::StateStores::memory(settings.clock),
            settings,
        );
        Self {
            receptionist: Arc::new(receptionist),
            audit,
            pms: practice.pms.clone(),
            next_id: Default::default(),
        }
    }

    /// A call to the demo practice's line, from `caller` (none: a withheld number).
    pub fn call(&self, call_id: &str, caller: Option<&str>) -> CallInfo {
        CallInfo {
            call_id: Some(call_id.into()),
            caller: caller.map(|c| E164::parse(c).expect("a phone number")),
            practice: PracticeKey {
                phone_number_id: Some("pn_demo".into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Asks `request` in `call` under a fresh `toolCallId`.
    pub async fn ask(
        &self,
        call: &CallInfo,
        request: impl Into<ToolRequest>,
    ) -> Result<String, String> {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.ask_as(call, &format!("tc-{n}"), request).await
    }

    /// Asks `request` in `call` under `tool_call_id`.
    pub async fn ask_as(
        &self,
        call: &CallInfo,
        tool_call_id: &str,
        request: impl Into<ToolRequest>,
    ) -> Result<String, String> {
        let request = request.into();
        let tool = request.tool();
        self.receptionist
            .answer(
                call,
                tool,
                tool_call_id,
                Ok(request),
                Duration::from_secs(5),
            )
            .await
    }

    /// The first free start on `date` for a visit of `length` minutes (with `provider`, if
    /// given), as check_availability offers it.
    pub async fn first_free(
        &self,
        date: Date,
        length: u32,
        provider: Option<&str>,
    ) -> (Time, ProviderId) {
        let call = self.call("call-availability", None);
        let asked = availability::CheckAvailability {
            date: Some(date),
            length_minutes: Some(length),
            provider: provider.map(ProviderId::new),
            part_of_day: availability::PartOfDay::Any,
            limit: 1,
        };
        let answer = self.ask(&call, asked).await.expect("availability answers");
        let body: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        let slot = &body["slots"][0];
        let time = slot["time"].as_str().expect("a free slot that day");
        let provider = slot["provider_id"].as_str().expect("a provider");
        (time.parse().expect("HH:MM"), ProviderId::new(provider))
    }

    /// The audit entries of `tool`, in order.
    pub fn audited(&self, tool: Tool) -> Vec<AuditEvent> {
        let name = tool.name();
        self.audit
            .events()
            .into_iter()
            .filter(|e| e.resource == name)
            .collect()
    }
}

/// Who the caller says they are: first name, last name and date of birth.
pub fn who(first: &str, last: &str, born: &str) -> Identity {
    Identity {
        patient_id: None,
        first_name: Some(Phi::new(first.into())),
        last_name: Some(Phi::new(last.into())),
        birth_date: Some(Phi::new(born.parse().expect("a date"))),
    }
}

/// A weekday a week or more ahead that is lightly booked.
pub fn light_day() -> Date {
    crate::pms::sandbox::fixture::light_day(TODAY)
}
