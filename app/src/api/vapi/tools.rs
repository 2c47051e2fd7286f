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

/// Every tool's route, listed once: the operation's summary and description, its function name,
/// path and `operationId` (the Vapi function name), the tool and its arguments type. Makes the
/// routes and [`parser`], the parser of each tool's arguments for the webhook, where each call
/// names its own tool. A tool missing here does not compile.
macro_rules! tool_routes {
    ($(
        $(#[doc = $doc:tt])*
        $name:ident($path:tt, $id:tt) => $tool:ident($args:ty);
    )*) => {
        #[OpenApi(tag = "ApiTags::Tools")]
        impl ToolsApi {
            $(
                $(#[doc = $doc])*
                #[oai(path = $path, method = "post", operation_id = $id)]
                async fn $name(
                    &self,
                    req: &Request,
                    Data(state): Data<&Arc<AppState>>,
                    body: VapiBody<$args>,
                ) -> ToolResponse {
                    run(state, req, Tool::$tool, body).await
                }
            )*
        }

        /// The parser of `tool`'s arguments.
        pub fn parser(tool: Tool) -> Parser {
            match tool {
                $(Tool::$tool => parse_as::<$args>,)*
            }
        }
    };
}

tool_routes! {
    /// Find open appointment times
    ///
    /// Free slots of the requested length on one day, in the practice's local time, optionally
    /// for one provider or part of the day. When the day is full, the answer lists the nearest
    /// openings on following days instead (`alternatives`). Never offers a time in the past.
    check_availability("/vapi/tools/check_availability", "check_availability") => CheckAvailability(CheckAvailabilityArgs);

    /// Book an appointment for a verified patient
    ///
    /// Books the time for the patient once the caller is verified (caller id on file, or first
    /// name, last name and date of birth). Re-checks the slot first. The answer says whether the
    /// practice's system confirmed the booking, has it pending, or refused it, with a reference.
    /// Calling again with the same details does not book twice.
    book_appointment("/vapi/tools/book_appointment", "book_appointment") => BookAppointment(BookAppointmentArgs);

    /// Cancel a verified patient's appointment
    ///
    /// Cancels one of the verified patient's own upcoming appointments (id from
    /// get_appointments). The answer says whether the practice's system confirmed it.
    cancel_appointment("/vapi/tools/cancel_appointment", "cancel_appointment") => CancelAppointment(CancelAppointmentArgs);

    /// Move a verified patient's appointment
    ///
    /// Moves one of the verified patient's own upcoming appointments to a new free time (check it
    /// with check_availability first). Keeps the visit's length and, unless told, its provider.
    reschedule_appointment("/vapi/tools/reschedule_appointment", "reschedule_appointment") => RescheduleAppointment(RescheduleAppointmentArgs);

    /// List a verified patient's upcoming appointments
    ///
    /// The verified patient's upcoming visits (date, time, provider, appointment_id) and any
    /// requests still pending confirmation.
    get_appointments("/vapi/tools/get_appointments", "get_appointments") => GetAppointments(PatientArgs);

    /// Identify and verify the caller
    ///
    /// Call first when a caller asks about their own records. With no arguments it checks the
    /// caller id; otherwise pass first_name, last_name and date_of_birth. Unverified callers get
    /// only a count, or the first names of a family sharing their number, and what to ask next.
    search_patients("/vapi/tools/search_patients", "search_patients") => SearchPatients(PatientArgs);

    /// Read a verified patient's details
    ///
    /// Name, date of birth, phones, email and usual provider of the verified patient.
    get_patient_info("/vapi/tools/get_patient_info", "get_patient_info") => GetPatientInfo(PatientArgs);

    /// Register a new patient
    ///
    /// Creates the patient's record (first name, last name, date of birth; phone defaults to the
    /// caller's number). If the person is already a patient, says so and creates nothing.
    create_patient("/vapi/tools/create_patient", "create_patient") => CreatePatient(CreatePatientArgs);

    /// Update a verified patient's contact details
    ///
    /// Changes the verified patient's phone, email or preferred name. Some practice systems do
    /// not allow this by phone; the answer then says so.
    update_patient("/vapi/tools/update_patient", "update_patient") => UpdatePatient(UpdatePatientArgs);

    /// List the practice's providers
    ///
    /// The dentists and hygienists who can be booked, with their provider_id.
    list_providers("/vapi/tools/list_providers", "list_providers") => ListProviders(ListProvidersArgs);

    /// Hand the call to a person
    ///
    /// When the caller asks for a person, or the request is beyond these tools. Transfers the
    /// live call to the practice's front desk; the answer says it is transferring, or why it
    /// could not (no transfer number, the office is closed, no call control, the transfer
    /// failed) and offers take_message instead.
    transfer_to_human("/vapi/tools/transfer_to_human", "transfer_to_human") => TransferToHuman(TransferToHumanArgs);

    /// Take a message for the front desk
    ///
    /// When the caller wants the office to call back, or a transfer is not possible. Records the
    /// caller's name, the number to call back (the caller's own by default), what it is about
    /// and how urgent it is; the answer says when the office will call back.
    take_message("/vapi/tools/take_message", "take_message") => TakeMessage(TakeMessageArgs);

    /// Record the caller's agreement to appointment texts
    ///
    /// Call when the verified patient says yes to texts about their appointments (or, with
    /// agreed false, asks for no more). Ask before booking: "Would you like a text confirming
    /// it?" Texts go to the number they are calling from unless they give another, and only
    /// once the practice's system confirms a booking, change or cancellation.
    record_sms_consent("/vapi/tools/record_sms_consent", "record_sms_consent") => RecordSmsConsent(RecordSmsConsentArgs);
}
