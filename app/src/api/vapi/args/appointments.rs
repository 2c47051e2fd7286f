//! The arguments of the scheduling tools: availability, booking, cancelling, rescheduling.

use poem_openapi::Object;
use serde::Deserialize;

use super::{IdentityArgs, ToolArgs};
use crate::api::vapi::body::envelope_schema;
use crate::{
    pms::{AppointmentId, ProviderId},
    receptionist::{
        ArgError, Tool, ToolRequest, tool,
        tools::{availability::*, booking::*},
    },
};

/// Arguments of `check_availability`.
#[derive(Debug, Object, Deserialize)]
pub struct CheckAvailabilityArgs {
    /// The day to look at, YYYY-MM-DD in the practice's local time. Omit for today.
    #[oai(validator(max_length = 10))]
    pub date: Option<String>,
    /// Length of the visit in minutes (5–480). Omit for the practice's usual length.
    #[oai(validator(minimum(value = "5"), maximum(value = "480")))]
    pub length_minutes: Option<i64>,
    /// Only this provider's openings (an id from list_providers). Omit for any provider.
    #[oai(validator(max_length = 64))]
    pub provider_id: Option<String>,
    /// `morning`, `afternoon` or `any` (the default).
    pub part_of_day: Option<PartOfDayArg>,
    /// How many openings to return, 1–20 (default 8).
    #[oai(validator(minimum(value = "1"), maximum(value = "20")))]
    pub max_results: Option<i64>,
}

/// A part of the day.
#[derive(Debug, Clone, Copy, poem_openapi::Enum, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PartOfDayArg {
    Morning,
    Afternoon,
    Any,
}

envelope_schema! { CheckAvailabilityArgs:
CheckAvailabilityRequest, CheckAvailabilityMessage, CheckAvailabilityCall, CheckAvailabilityFunction }

impl ToolArgs for CheckAvailabilityArgs {
    type Body = CheckAvailabilityRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        let limit = match self.max_results {
            None => 8,
            Some(n @ 1..=20) => n as usize,
            Some(n) => {
                return Err(ArgError::new(
                    "max_results",
                    format!("{n} is out of range; expected 1 to 20"),
                ));
            }
        };
        Ok(ToolRequest::CheckAvailability(CheckAvailability {
            date: self.date.map(|d| tool::date("date", &d)).transpose()?,
            length_minutes: self
                .length_minutes
                .map(|l| tool::length_minutes("length_minutes", l))
                .transpose()?,
            provider: provider(self.provider_id)?,
            part_of_day: match self.part_of_day.unwrap_or(PartOfDayArg::Any) {
                PartOfDayArg::Morning => PartOfDay::Morning,
                PartOfDayArg::Afternoon => PartOfDay::Afternoon,
                PartOfDayArg::Any => PartOfDay::Any,
            },
            limit,
        }))
    }
}

fn provider(raw: Option<String>) -> Result<Option<ProviderId>, ArgError> {
    raw.map(|v| tool::id("provider_id", &v).map(ProviderId::new))
        .transpose()
}

/// Arguments of `book_appointment`.
#[derive(Debug, Object, Deserialize)]
pub struct BookAppointmentArgs {
    #[oai(flatten)]
    #[serde(flatten)]
    pub identity: IdentityArgs,
    /// Day of the visit, YYYY-MM-DD in the practice's local time.
    #[oai(validator(max_length = 10))]
    pub date: String,
    /// Start time, 24-hour HH:MM in the practice's local time, exactly as check_availability offered it.
    #[oai(validator(max_length = 8))]
    pub time: String,
    /// Length in minutes (5–480). Omit for the practice's usual length.
    #[oai(validator(minimum(value = "5"), maximum(value = "480")))]
    pub length_minutes: Option<i64>,
    /// The provider offered with the slot (an id from check_availability). Omit for any free provider.
    #[oai(validator(max_length = 64))]
    pub provider_id: Option<String>,
    /// Why the patient is coming, in a few words ("cleaning", "toothache").
    #[oai(validator(max_length = 200))]
    pub reason: Option<String>,
}

envelope_schema! { BookAppointmentArgs:
BookAppointmentRequest, BookAppointmentMessage, BookAppointmentCall, BookAppointmentFunction }

impl ToolArgs for BookAppointmentArgs {
    type Body = BookAppointmentRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::BookAppointment(BookAppointment {
            identity: self.identity.parse()?,
            date: tool::date("date", &self.date)?,
            time: tool::time("time", &self.time)?,
            length_minutes: self
                .length_minutes
                .map(|l| tool::length_minutes("length_minutes", l))
                .transpose()?,
            provider: provider(self.provider_id)?,
            reason: self.reason.map(|r| tool::note("reason", &r)).transpose()?,
        }))
    }
}

/// Arguments of `cancel_appointment`.
#[derive(Debug, Object, Deserialize)]
pub struct CancelAppointmentArgs {
    #[oai(flatten)]
    #[serde(flatten)]
    pub identity: IdentityArgs,
    /// The appointment's id, exactly as get_appointments gave it.
    #[oai(validator(max_length = 64))]
    pub appointment_id: String,
    /// Why the caller cancels, in a few words. Optional.
    #[oai(validator(max_length = 200))]
    pub reason: Option<String>,
}

envelope_schema! { CancelAppointmentArgs:
CancelAppointmentRequest, CancelAppointmentMessage, CancelAppointmentCall, CancelAppointmentFunction }

impl ToolArgs for CancelAppointmentArgs {
    type Body = CancelAppointmentRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::CancelAppointment(CancelAppointment {
            identity: self.identity.parse()?,
            appointment: AppointmentId::new(tool::id("appointment_id", &self.appointment_id)?),
            reason: self.reason.map(|r| tool::note("reason", &r)).transpose()?,
        }))
    }
}

/// Arguments of `reschedule_appointment`.
#[derive(Debug, Object, Deserialize)]
pub struct RescheduleAppointmentArgs {
    #[oai(flatten)]
    #[serde(flatten)]
    pub identity: IdentityArgs,
    /// The appointment's id, exactly as get_appointments gave it.
    #[oai(validator(max_length = 64))]
    pub appointment_id: String,
    /// The new day, YYYY-MM-DD in the practice's local time.
    #[oai(validator(max_length = 10))]
    pub date: String,
    /// The new start time, 24-hour HH:MM, as check_availability offered it.
    #[oai(validator(max_length = 8))]
    pub time: String,
    /// A different provider (id from check_availability). Omit to keep the same one.
    #[oai(validator(max_length = 64))]
    pub provider_id: Option<String>,
}

envelope_schema! { RescheduleAppointmentArgs: RescheduleAppointmentRequest,
RescheduleAppointmentMessage, RescheduleAppointmentCall, RescheduleAppointmentFunction }

impl ToolArgs for RescheduleAppointmentArgs {
    type Body = RescheduleAppointmentRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::RescheduleAppointment(RescheduleAppointment {
            identity: self.identity.parse()?,
            appointment: AppointmentId::new(tool::id("appointment_id", &self.appointment_id)?),
            date: tool::date("date", &self.date)?,
            time: tool::time("time", &self.time)?,
            provider: provider(self.provider_id)?,
        }))
    }
}
