//! The arguments of the tools about patients (identify, read, register, update) and of the
//! practice-level tools (providers, transfer to a person).

use poem_openapi::Object;
use serde::Deserialize;

use super::{IdentityArgs, ToolArgs};
use crate::api::vapi::body::envelope_schema;
use crate::receptionist::{
    ArgError, Tool, ToolRequest, tool,
    tools::{booking::GetAppointments, front_desk::*, patients::*},
};

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
            Tool::GetAppointments => ToolRequest::GetAppointments(GetAppointments { identity }),
            Tool::GetPatientInfo => ToolRequest::GetPatientInfo(GetPatientInfo { identity }),
            Tool::SearchPatients => ToolRequest::SearchPatients(SearchPatients { identity }),
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
        Ok(ToolRequest::CreatePatient(CreatePatient {
            first_name: tool::name("first_name", &self.first_name)?,
            last_name: tool::name("last_name", &self.last_name)?,
            birth_date: crate::pms::Phi::new(tool::date("date_of_birth", &self.date_of_birth)?),
            phone: self
                .phone
                .map(|p| tool::phone("phone", &p).map(crate::pms::Phi::new))
                .transpose()?,
            email: self.email.map(|e| tool::email("email", &e)).transpose()?,
        }))
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
        Ok(ToolRequest::UpdatePatient(UpdatePatient {
            identity: self.identity.parse()?,
            phone: self
                .new_phone
                .map(|p| tool::phone("new_phone", &p).map(crate::pms::Phi::new))
                .transpose()?,
            email: self
                .new_email
                .map(|e| tool::email("new_email", &e))
                .transpose()?,
            preferred_name: self
                .preferred_name
                .map(|n| tool::name("preferred_name", &n))
                .transpose()?,
        }))
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
        Ok(ToolRequest::ListProviders(ListProviders))
    }
}

envelope_schema! { TransferToHumanArgs:
TransferToHumanRequest, TransferToHumanMessage, TransferToHumanCall, TransferToHumanFunction }

impl ToolArgs for TransferToHumanArgs {
    type Body = TransferToHumanRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::TransferToHuman(TransferToHuman {
            reason: self.reason,
        }))
    }
}
