//! The arguments of each tool, as the language model sends them. These types are the JSON
//! Schema of the OpenAPI document (and so of the Vapi tool definitions): every field carries a
//! description a model can follow. Each is a [`ToolArgs`]: it converts into the receptionist's
//! typed request, or into an [`ArgError`] that says what is wrong and what is expected, and it
//! names the request body schema of its route (made by one `envelope_schema!` invocation).
//!
//! A new tool needs, here, its arguments type (or an existing one: `appointments.rs`,
//! `patients.rs`); and its route, in `tools.rs`'s list.

mod appointments;
mod consent;
mod front_desk;
mod patients;

use poem_openapi::{Object, types::Type};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Map, Value};

pub use appointments::*;
pub use consent::*;
pub use front_desk::*;
pub use patients::*;

use crate::{
    pms::PatientId,
    receptionist::{ArgError, Identity, Tool, ToolRequest, tool},
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
                .map(|v| tool::id("patient_id", &v).map(PatientId::new))
                .transpose()?,
            first_name: self
                .first_name
                .map(|v| tool::name("first_name", &v))
                .transpose()?,
            last_name: self
                .last_name
                .map(|v| tool::name("last_name", &v))
                .transpose()?,
            birth_date: self
                .date_of_birth
                .map(|v| tool::date("date_of_birth", &v).map(crate::pms::Phi::new))
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::vapi::tools::parser;

    /// The fewest arguments each tool accepts.
    fn minimal(tool: Tool) -> Map<String, Value> {
        let args = match tool {
            Tool::BookAppointment => json!({"date": "2031-03-04", "time": "09:30"}),
            Tool::CancelAppointment => json!({"appointment_id": "A1"}),
            Tool::RescheduleAppointment => {
                json!({"appointment_id": "A1", "date": "2031-03-04", "time": "09:30"})
            }
            Tool::CreatePatient => {
                json!({"first_name": "Ana", "last_name": "Ruiz", "date_of_birth": "1990-04-02"})
            }
            Tool::TakeMessage => json!({"caller_name": "Ana Ruiz", "reason": "A question"}),
            _ => json!({}),
        };
        args.as_object().cloned().expect("an object")
    }

    #[test]
    fn a_call_naming_its_tool_is_parsed_into_that_tools_request() {
        for &tool in Tool::ALL {
            let request = parser(tool)(tool, minimal(tool))
                .unwrap_or_else(|e| panic!("{}: {e}", tool.name()));
            assert_eq!(request.tool(), tool, "{}", tool.name());
        }
    }

    #[test]
    fn the_tools_sharing_the_patient_arguments_each_get_their_own_request() {
        let identity =
            json!({"first_name": "Ana", "last_name": "Ruiz", "date_of_birth": "1990-04-02"});
        for tool in [
            Tool::GetAppointments,
            Tool::SearchPatients,
            Tool::GetPatientInfo,
        ] {
            let args = identity.as_object().cloned().expect("an object");
            let request = parse_as::<PatientArgs>(tool, args).expect("parses");
            assert_eq!(request.tool(), tool);
        }
        // Arguments of the wrong shape for the route's type name the field.
        let err = parse_as::<CancelAppointmentArgs>(Tool::CancelAppointment, Map::new())
            .expect_err("appointment_id is required");
        assert_eq!(err.field, "appointment_id");
    }
}
