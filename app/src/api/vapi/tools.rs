//! `POST /vapi/tools/{tool}`: one operation per tool, whose request schema carries the tool's
//! arguments (the route's [`VapiBody`] names the arguments type) and whose `operationId` is the
//! tool's Vapi function name. The OpenAPI document made from these is what the Vapi tool
//! definitions are exported from.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, OpenApi};

use super::{
    args::*,
    body::{NO_TOOL_CALL, VapiBody},
    dispatch::{answer_all, check_signer},
};
use crate::api::{ApiTags, AppState, json::JsonBody, problem::ProblemJson};
use crate::receptionist::Tool;
use crate::vapi::results::ToolResults;

/// Every status a tool route can answer.
#[derive(ApiResponse)]
pub enum ToolResponse {
    /// One result per tool call, in order. A tool that could not do its job still answers 200,
    /// with an `error` string the assistant can act on.
    #[oai(status = 200)]
    Ok(JsonBody<ToolResults>),
    /// Malformed JSON, or a message with no tool call.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The signature, secret or token did not verify (no detail is given).
    #[oai(status = 401)]
    Unauthorized,
    /// The body is larger than 1 MiB.
    #[oai(status = 413)]
    TooLarge(ProblemJson),
    /// No Vapi secret is configured, so the gateway refuses every tool call.
    #[oai(status = 503)]
    NotConfigured(ProblemJson),
}

pub struct ToolsApi;

/// Answers a tool route's message: each call as `tool`, its arguments read as `A`.
async fn run<A: ToolArgs>(
    state: &AppState,
    req: &Request,
    tool: Tool,
    body: VapiBody<A>,
) -> ToolResponse {
    let message = body.0.message;
    if message.tool_calls.is_empty() {
        return ToolResponse::BadRequest(ProblemJson::bad_request(NO_TOOL_CALL));
    }
    if check_signer(state, req, &message).await.is_err() {
        return ToolResponse::Unauthorized;
    }
    ToolResponse::Ok(JsonBody(ToolResults {
        results: answer_all(state, req, message, Some((tool, parse_as::<A>))).await,
    }))
}

#[OpenApi(tag = "ApiTags::Tools")]
impl ToolsApi {
    /// Find open appointment times
    ///
    /// Free slots of the requested length on one day, in the practice's local time, optionally
    /// for one provider or part of the day. When the day is full, the answer lists the nearest
    /// openings on following days instead (`alternatives`). Never offers a time in the past.
    #[oai(
        path = "/vapi/tools/check_availability",
        method = "post",
        operation_id = "check_availability"
    )]
    async fn check_availability(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<CheckAvailabilityArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::CheckAvailability, body).await
    }

    /// Book an appointment for a verified patient
    ///
    /// Books the time for the patient once the caller is verified (caller id on file, or first
    /// name, last name and date of birth). Re-checks the slot first. The answer says whether the
    /// practice's system confirmed the booking, has it pending, or refused it, with a reference.
    /// Calling again with the same details does not book twice.
    #[oai(
        path = "/vapi/tools/book_appointment",
        method = "post",
        operation_id = "book_appointment"
    )]
    async fn book_appointment(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<BookAppointmentArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::BookAppointment, body).await
    }

    /// Cancel a verified patient's appointment
    ///
    /// Cancels one of the verified patient's own upcoming appointments (id from
    /// get_appointments). The answer says whether the practice's system confirmed it.
    #[oai(
        path = "/vapi/tools/cancel_appointment",
        method = "post",
        operation_id = "cancel_appointment"
    )]
    async fn cancel_appointment(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<CancelAppointmentArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::CancelAppointment, body).await
    }

    /// Move a verified patient's appointment
    ///
    /// Moves one of the verified patient's own upcoming appointments to a new free time (check it
    /// with check_availability first). Keeps the visit's length and, unless told, its provider.
    #[oai(
        path = "/vapi/tools/reschedule_appointment",
        method = "post",
        operation_id = "reschedule_appointment"
    )]
    async fn reschedule_appointment(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<RescheduleAppointmentArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::RescheduleAppointment, body).await
    }

    /// List a verified patient's upcoming appointments
    ///
    /// The verified patient's upcoming visits (date, time, provider, appointment_id) and any
    /// requests still pending confirmation.
    #[oai(
        path = "/vapi/tools/get_appointments",
        method = "post",
        operation_id = "get_appointments"
    )]
    async fn get_appointments(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<PatientArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::GetAppointments, body).await
    }

    /// Identify and verify the caller
    ///
    /// Call first when a caller asks about their own records. With no arguments it checks the
    /// caller id; otherwise pass first_name, last_name and date_of_birth. Unverified callers get
    /// only a count, or the first names of a family sharing their number, and what to ask next.
    #[oai(
        path = "/vapi/tools/search_patients",
        method = "post",
        operation_id = "search_patients"
    )]
    async fn search_patients(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<PatientArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::SearchPatients, body).await
    }

    /// Read a verified patient's details
    ///
    /// Name, date of birth, phones, email and usual provider of the verified patient.
    #[oai(
        path = "/vapi/tools/get_patient_info",
        method = "post",
        operation_id = "get_patient_info"
    )]
    async fn get_patient_info(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<PatientArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::GetPatientInfo, body).await
    }

    /// Register a new patient
    ///
    /// Creates the patient's record (first name, last name, date of birth; phone defaults to the
    /// caller's number). If the person is already a patient, says so and creates nothing.
    #[oai(
        path = "/vapi/tools/create_patient",
        method = "post",
        operation_id = "create_patient"
    )]
    async fn create_patient(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<CreatePatientArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::CreatePatient, body).await
    }

    /// Update a verified patient's contact details
    ///
    /// Changes the verified patient's phone, email or preferred name. Some practice systems do
    /// not allow this by phone; the answer then says so.
    #[oai(
        path = "/vapi/tools/update_patient",
        method = "post",
        operation_id = "update_patient"
    )]
    async fn update_patient(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<UpdatePatientArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::UpdatePatient, body).await
    }

    /// List the practice's providers
    ///
    /// The dentists and hygienists who can be booked, with their provider_id.
    #[oai(
        path = "/vapi/tools/list_providers",
        method = "post",
        operation_id = "list_providers"
    )]
    async fn list_providers(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<ListProvidersArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::ListProviders, body).await
    }

    /// Hand the call to a person
    ///
    /// When the caller asks for a person, or the request is beyond these tools. The answer gives
    /// the practice's front-desk number to transfer to, or says honestly that none is set up.
    #[oai(
        path = "/vapi/tools/transfer_to_human",
        method = "post",
        operation_id = "transfer_to_human"
    )]
    async fn transfer_to_human(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<TransferToHumanArgs>,
    ) -> ToolResponse {
        run(state, req, Tool::TransferToHuman, body).await
    }
}
