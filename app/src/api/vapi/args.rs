//! The arguments of each tool, as the language model sends them. These types are the JSON
//! Schema of the OpenAPI document (and so of the Vapi tool definitions): every field carries a
//! description a model can follow. Each is a [`ToolArgs`]: it converts into the receptionist's
//! typed request, or into an [`ArgError`] that says what is wrong and what is expected, and it
//! names the request body schema of its route (made by one `envelope_schema!` invocation).
//!
//! A new tool needs, here, its arguments type (or an existing one) and a line in [`parser`]'s
//! list; and a route in `tools.rs`.

use poem_openapi::{Object, types::Type};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::body::envelope_schema;
use crate::{
    pms::{AppointmentId, PatientId, ProviderId},
    receptionist::{
        ArgError, Identity, Tool, ToolRequest,
        request::{self, PartOfDay},
    },
};

/// A tool's arguments type.
pub trait ToolArgs: Type + DeserializeOwned + Send + 'static {
    /// The request body of a route taking these arguments: a `tool-calls` message carrying them.
    type Body: Type;
    /// The receptionist's request for `tool` (a tool taking these arguments), or what is wrong.
    fn parse(self, tool: Tool) -> Result<ToolRequest, ArgError>;
}

/// Parses one call's arguments for `tool`: deserialised as the arguments type, then parsed.
pub type Parser = fn(Tool, Map<String, Value>) -> Result<ToolRequest, ArgError>;

/// The [`Parser`] of the tools taking `A`.
pub fn parse_as<A: ToolArgs>(
    tool: Tool,
    arguments: Map<String, Value>,
) -> Result<ToolRequest, ArgError> {
    from_arguments::<A>(arguments)?.parse(tool)
}

/// Each arguments type with the tools that take it, listed once: the parser of a call that names
/// its own tool (on the webhook). Exhaustive, so a tool without arguments does not compile.
macro_rules! parsers {
    ($($args:ty => $($tool:ident)|+;)+) => {
        /// The parser of `tool`'s arguments.
        pub fn parser(tool: Tool) -> Parser {
            match tool {
                $($(Tool::$tool)|+ => parse_as::<$args>,)+
            }
        }
    };
}

parsers! {
    CheckAvailabilityArgs => CheckAvailability;
    BookAppointmentArgs => BookAppointment;
    CancelAppointmentArgs => CancelAppointment;
    RescheduleAppointmentArgs => RescheduleAppointment;
    PatientArgs => GetAppointments | SearchPatients | GetPatientInfo;
    CreatePatientArgs => CreatePatient;
    UpdatePatientArgs => UpdatePatient;
    ListProvidersArgs => ListProviders;
    TransferToHumanArgs => TransferToHuman;
}

/// Deserialises a tool's arguments, naming the argument that is wrong.
pub fn from_arguments<T: DeserializeOwned>(
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<T, ArgError> {
    let value = serde_json::Value::Object(arguments);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        // serde names a missing field in the message, not the path.
        let field = match inner.strip_prefix("missing field `") {
            Some(rest) => rest.trim_end_matches('`').to_owned(),
            None => path,
        };
        let problem = inner.split(" at line ").next().unwrap_or(&inner).to_owned();
        ArgError::new(field, problem)
    })
}

/// Who the call is about. Verification needs either the caller id on file, or first name, last
/// name and date of birth; `patient_id` picks a patient the caller was already verified for.
#[derive(Debug, Default, Object, Deserialize)]
pub struct IdentityArgs {
    /// The patient's id, exactly as search_patients or an earlier result gave it. Optional.
    #[oai(validator(max_length = 64))]
    pub patient_id: Option<String>,
    /// The patient's first name, as the caller says it. Give with date_of_birth to verify.
    #[oai(validator(max_length = 60))]
    pub first_name: Option<String>,
    /// The patient's last name. Give with first_name and date_of_birth to verify.
    #[oai(validator(max_length = 60))]
    pub last_name: Option<String>,
    /// The patient's date of birth as YYYY-MM-DD, e.g. 1984-12-10.
    #[oai(validator(max_length = 10))]
    pub date_of_birth: Option<String>,
    /// The caller's phone number. Filled in by the system from caller id; never ask for it.
    #[oai(validator(max_length = 32))]
    pub caller_number: Option<String>,
}

impl IdentityArgs {
    fn parse(self) -> Result<Identity, ArgError> {
        Ok(Identity {
            patient_id: self
                .patient_id
                .map(|v| request::id("patient_id", &v).map(PatientId::new))
                .transpose()?,
            first_name: self
                .first_name
                .map(|v| request::name("first_name", &v))
                .transpose()?,
            last_name: self
                .last_name
                .map(|v| request::name("last_name", &v))
                .transpose()?,
            birth_date: self
                .date_of_birth
                .map(|v| request::date("date_of_birth", &v).map(crate::pms::Phi::new))
                .transpose()?,
        })
    }
}

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
        Ok(ToolRequest::CheckAvailability {
            date: self.date.map(|d| request::date("date", &d)).transpose()?,
            length_minutes: self
                .length_minutes
                .map(|l| request::length_minutes("length_minutes", l))
                .transpose()?,
            provider: provider(self.provider_id)?,
            part_of_day: match self.part_of_day.unwrap_or(PartOfDayArg::Any) {
                PartOfDayArg::Morning => PartOfDay::Morning,
                PartOfDayArg::Afternoon => PartOfDay::Afternoon,
                PartOfDayArg::Any => PartOfDay::Any,
            },
            limit,
        })
    }
}

fn provider(raw: Option<String>) -> Result<Option<ProviderId>, ArgError> {
    raw.map(|v| request::id("provider_id", &v).map(ProviderId::new))
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
        Ok(ToolRequest::BookAppointment {
            identity: self.identity.parse()?,
            date: request::date("date", &self.date)?,
            time: request::time("time", &self.time)?,
            length_minutes: self
                .length_minutes
                .map(|l| request::length_minutes("length_minutes", l))
                .transpose()?,
            provider: provider(self.provider_id)?,
            reason: self
                .reason
                .map(|r| request::note("reason", &r))
                .transpose()?,
        })
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
        Ok(ToolRequest::CancelAppointment {
            identity: self.identity.parse()?,
            appointment: AppointmentId::new(request::id("appointment_id", &self.appointment_id)?),
            reason: self
                .reason
                .map(|r| request::note("reason", &r))
                .transpose()?,
        })
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
        Ok(ToolRequest::RescheduleAppointment {
            identity: self.identity.parse()?,
            appointment: AppointmentId::new(request::id("appointment_id", &self.appointment_id)?),
            date: request::date("date", &self.date)?,
            time: request::time("time", &self.time)?,
            provider: provider(self.provider_id)?,
        })
    }
}

/// Arguments of the tools that need only to know who the patient is.
#[derive(Debug, Object, Deserialize)]
pub struct PatientArgs {
    #[oai(flatten)]
    #[serde(flatten)]
    pub identity: IdentityArgs,
}

envelope_schema! { PatientArgs:
PatientToolRequest, PatientToolMessage, PatientToolCall, PatientToolFunction }

impl ToolArgs for PatientArgs {
    type Body = PatientToolRequest;

    fn parse(self, tool: Tool) -> Result<ToolRequest, ArgError> {
        let identity = self.identity.parse()?;
        Ok(match tool {
            Tool::GetAppointments => ToolRequest::GetAppointments { identity },
            Tool::GetPatientInfo => ToolRequest::GetPatientInfo { identity },
            Tool::SearchPatients => ToolRequest::SearchPatients { identity },
            other => {
                return Err(ArgError::new(
                    "arguments",
                    format!("{} takes more than a patient's identity", other.name()),
                ));
            }
        })
    }
}

/// Arguments of `create_patient`.
#[derive(Debug, Object, Deserialize)]
pub struct CreatePatientArgs {
    /// The new patient's first name.
    #[oai(validator(max_length = 60))]
    pub first_name: String,
    /// The new patient's last name.
    #[oai(validator(max_length = 60))]
    pub last_name: String,
    /// Date of birth, YYYY-MM-DD.
    #[oai(validator(max_length = 10))]
    pub date_of_birth: String,
    /// The patient's phone number. Omit to use the number they are calling from.
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
    /// Email address, if the caller offers one.
    #[oai(validator(max_length = 254))]
    pub email: Option<String>,
    /// The caller's phone number. Filled in by the system from caller id; never ask for it.
    #[oai(validator(max_length = 32))]
    pub caller_number: Option<String>,
}

envelope_schema! { CreatePatientArgs:
CreatePatientRequest, CreatePatientMessage, CreatePatientCall, CreatePatientFunction }

impl ToolArgs for CreatePatientArgs {
    type Body = CreatePatientRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::CreatePatient {
            first_name: request::name("first_name", &self.first_name)?,
            last_name: request::name("last_name", &self.last_name)?,
            birth_date: crate::pms::Phi::new(request::date("date_of_birth", &self.date_of_birth)?),
            phone: self
                .phone
                .map(|p| request::phone("phone", &p).map(crate::pms::Phi::new))
                .transpose()?,
            email: self
                .email
                .map(|e| request::email("email", &e))
                .transpose()?,
        })
    }
}

/// Arguments of `update_patient`.
#[derive(Debug, Object, Deserialize)]
pub struct UpdatePatientArgs {
    #[oai(flatten)]
    #[serde(flatten)]
    pub identity: IdentityArgs,
    /// A new phone number for the patient's record.
    #[oai(validator(max_length = 32))]
    pub new_phone: Option<String>,
    /// A new email address.
    #[oai(validator(max_length = 254))]
    pub new_email: Option<String>,
    /// The name the patient likes to be called.
    #[oai(validator(max_length = 60))]
    pub preferred_name: Option<String>,
}

envelope_schema! { UpdatePatientArgs:
UpdatePatientRequest, UpdatePatientMessage, UpdatePatientCall, UpdatePatientFunction }

impl ToolArgs for UpdatePatientArgs {
    type Body = UpdatePatientRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::UpdatePatient {
            identity: self.identity.parse()?,
            phone: self
                .new_phone
                .map(|p| request::phone("new_phone", &p).map(crate::pms::Phi::new))
                .transpose()?,
            email: self
                .new_email
                .map(|e| request::email("new_email", &e))
                .transpose()?,
            preferred_name: self
                .preferred_name
                .map(|n| request::name("preferred_name", &n))
                .transpose()?,
        })
    }
}

/// Arguments of `list_providers` (none needed).
#[derive(Debug, Object, Deserialize)]
pub struct ListProvidersArgs {
    /// The caller's phone number. Filled in by the system; never ask for it.
    #[oai(validator(max_length = 32))]
    pub caller_number: Option<String>,
}

/// Arguments of `transfer_to_human`.
#[derive(Debug, Object, Deserialize)]
pub struct TransferToHumanArgs {
    /// Why the caller wants a person, in a few words. Optional.
    #[oai(validator(max_length = 200))]
    pub reason: Option<String>,
    /// The caller's phone number. Filled in by the system; never ask for it.
    #[oai(validator(max_length = 32))]
    pub caller_number: Option<String>,
}

envelope_schema! { ListProvidersArgs:
ListProvidersRequest, ListProvidersMessage, ListProvidersCall, ListProvidersFunction }

impl ToolArgs for ListProvidersArgs {
    type Body = ListProvidersRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::ListProviders)
    }
}

envelope_schema! { TransferToHumanArgs:
TransferToHumanRequest, TransferToHumanMessage, TransferToHumanCall, TransferToHumanFunction }

impl ToolArgs for TransferToHumanArgs {
    type Body = TransferToHumanRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::TransferToHuman {
            reason: self.reason,
        })
    }
}
