//! The request bodies of the Vapi routes: their schemas (per tool, so each operation carries its
//! tool's argument schema) and their parsing, which is tolerant of every envelope variant Vapi
//! sends (see `vapi::envelope`) rather than bound to the schema's exact shape.

use std::{marker::PhantomData, sync::Arc};

use poem::{Request, RequestBody};
use poem_openapi::{
    Object,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

use super::args::*;
use crate::api::{openapi::Validators, problem::ProblemJson};
use crate::vapi::envelope::{self, MessageKind, ServerMessage};

/// Why a `tool-calls` message without calls is refused.
pub const NO_TOOL_CALL: &str = "The message has no tool call: expected a non-empty toolCallList, toolCalls or toolWithToolCallList.";

/// A request body schema: which envelope type documents it.
pub trait EnvelopeSchema: Send + Sync + 'static {
    type Schema: Type;
}

/// A parsed Vapi server message, documented by `S`.
pub struct VapiBody<S> {
    pub message: ServerMessage,
    _schema: PhantomData<S>,
}

impl<S: EnvelopeSchema> Payload for VapiBody<S> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        S::Schema::schema_ref()
    }

    fn register(registry: &mut Registry) {
        S::Schema::register(registry);
    }
}

impl<S: EnvelopeSchema> ParsePayload for VapiBody<S> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let refuse = |detail: String| {
            poem::Error::from_response(ProblemJson::bad_request(detail).response())
        };
        let bytes = body
            .take()?
            .into_bytes()
            .await
            .map_err(|e| refuse(format!("The request body could not be read: {e}")))?;
        let message = envelope::parse(&bytes).map_err(|e| refuse(e.to_string()))?;
        // The documented schema is the contract: a body it rejects is refused, with the place.
        if let Some(validators) = request.data::<Arc<Validators>>() {
            let mut value: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| refuse(e.to_string()))?;
            crate::api::openapi::strip_nulls(&mut value);
            if let Err(detail) = validators.check(&S::Schema::name(), &value) {
                if message.tool_calls.is_empty() && message.kind == MessageKind::ToolCalls {
                    return Err(refuse(NO_TOOL_CALL.to_owned()));
                }
                return Err(refuse(detail));
            }
        }
        Ok(Self {
            message,
            _schema: PhantomData,
        })
    }
}

/// Makes a payload type a request-body extractor whose content type is not checked: Vapi and
/// Sikka always send JSON, and a missing or odd header on an otherwise valid body must not cost
/// a patient their answer (the body is still parsed and checked against its schema).
macro_rules! body_extractor {
    ($ty:ty, $($bounds:tt)*) => {
        impl<'a, $($bounds)*> poem_openapi::ApiExtractor<'a> for $ty {
            const TYPES: &'static [poem_openapi::ApiExtractorType] =
                &[poem_openapi::ApiExtractorType::RequestObject];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut poem_openapi::registry::Registry) {
                <Self as poem_openapi::payload::Payload>::register(registry);
            }

            fn request_meta() -> Option<poem_openapi::registry::MetaRequest> {
                Some(poem_openapi::registry::MetaRequest {
                    description: None,
                    content: vec![poem_openapi::registry::MetaMediaType {
                        content_type: <Self as poem_openapi::payload::Payload>::CONTENT_TYPE,
                        schema: <Self as poem_openapi::payload::Payload>::schema_ref(),
                    }],
                    required: true,
                })
            }

            async fn from_request(
                request: &'a poem::Request,
                body: &mut poem::RequestBody,
                _: poem_openapi::ExtractParamOptions<()>,
            ) -> poem::Result<Self> {
                <Self as poem_openapi::payload::ParsePayload>::from_request(request, body).await
            }
        }
    };
}
pub(in crate::api) use body_extractor;

body_extractor!(VapiBody<S>, S: EnvelopeSchema);

/// The call, as Vapi describes it (only the fields the gateway reads).
#[derive(Debug, Object)]
pub struct CallObject {
    /// Vapi's call id.
    #[oai(validator(max_length = 128))]
    pub id: Option<String>,
    /// The Vapi organisation.
    #[oai(rename = "orgId", validator(max_length = 128))]
    pub org_id: Option<String>,
    /// The Vapi phone number that was called; maps to a practice through the route table.
    #[oai(rename = "phoneNumberId", validator(max_length = 128))]
    pub phone_number_id: Option<String>,
    /// The saved assistant answering the call; on a web call (no phone number) it maps to a
    /// practice through the route table (`assistant_ids`). Absent for transient assistants.
    #[oai(rename = "assistantId", validator(max_length = 128))]
    pub assistant_id: Option<String>,
    pub customer: Option<CustomerObject>,
    /// Per-call overrides of the assistant (web calls can set them): their metadata is a claim
    /// that must agree with the practice the call is bound to.
    #[oai(rename = "assistantOverrides")]
    pub assistant_overrides: Option<AssistantObject>,
}

/// The caller.
#[derive(Debug, Object)]
pub struct CustomerObject {
    /// The caller's number in E.164 (absent on web calls).
    #[oai(validator(max_length = 32))]
    pub number: Option<String>,
}

/// The practice line that was called.
#[derive(Debug, Object)]
pub struct PhoneNumberObject {
    #[oai(validator(max_length = 128))]
    pub id: Option<String>,
    /// The practice line in E.164.
    #[oai(validator(max_length = 32))]
    pub number: Option<String>,
}

/// The assistant; its metadata may name the practice's account (accepted only when it agrees
/// with the practice the call's phone number or assistant id is bound to).
#[derive(Debug, Object)]
pub struct AssistantObject {
    /// The saved assistant's id.
    #[oai(validator(max_length = 128))]
    pub id: Option<String>,
    #[oai(validator(max_length = 256))]
    pub name: Option<String>,
    pub metadata: Option<AssistantMetadata>,
}

/// Metadata set when the assistant was created.
#[derive(Debug, Object)]
pub struct AssistantMetadata {
    /// The practice's account id in this gateway.
    #[oai(rename = "accountId", validator(max_length = 128))]
    pub account_id: Option<String>,
}

macro_rules! tool_envelope {
    ($marker:ident, $args:ty, $request:ident, $message:ident, $call:ident, $function:ident) => {
        /// A Vapi `tool-calls` server message.
        #[derive(Debug, Object)]
        pub struct $request {
            pub message: $message,
        }

        /// The message: the tool calls to answer, in order, and who is calling whom.
        #[derive(Debug, Object)]
        pub struct $message {
            /// `tool-calls`.
            #[oai(rename = "type", validator(max_length = 64))]
            pub kind: String,
            /// The calls to answer, in order.
            #[oai(rename = "toolCallList", validator(min_items = 1, max_items = 16))]
            pub tool_call_list: Vec<$call>,
            pub call: Option<CallObject>,
            pub customer: Option<CustomerObject>,
            #[oai(rename = "phoneNumber")]
            pub phone_number: Option<PhoneNumberObject>,
            pub assistant: Option<AssistantObject>,
        }

        /// One tool call.
        #[derive(Debug, Object)]
        pub struct $call {
            /// Echoed back as `toolCallId`.
            #[oai(validator(max_length = 128))]
            pub id: String,
            pub function: $function,
        }

        /// The function called and the model's arguments.
        #[derive(Debug, Object)]
        pub struct $function {
            #[oai(validator(max_length = 64))]
            pub name: String,
            pub arguments: $args,
        }

        pub struct $marker;

        impl EnvelopeSchema for $marker {
            type Schema = $request;
        }
    };
}

tool_envelope!(
    CheckAvailabilityBody,
    CheckAvailabilityArgs,
    CheckAvailabilityRequest,
    CheckAvailabilityMessage,
    CheckAvailabilityCall,
    CheckAvailabilityFunction
);
tool_envelope!(
    BookAppointmentBody,
    BookAppointmentArgs,
    BookAppointmentRequest,
    BookAppointmentMessage,
    BookAppointmentCall,
    BookAppointmentFunction
);
tool_envelope!(
    CancelAppointmentBody,
    CancelAppointmentArgs,
    CancelAppointmentRequest,
    CancelAppointmentMessage,
    CancelAppointmentCall,
    CancelAppointmentFunction
);
tool_envelope!(
    RescheduleAppointmentBody,
    RescheduleAppointmentArgs,
    RescheduleAppointmentRequest,
    RescheduleAppointmentMessage,
    RescheduleAppointmentCall,
    RescheduleAppointmentFunction
);
tool_envelope!(
    PatientBody,
    PatientArgs,
    PatientToolRequest,
    PatientToolMessage,
    PatientToolCall,
    PatientToolFunction
);
tool_envelope!(
    CreatePatientBody,
    CreatePatientArgs,
    CreatePatientRequest,
    CreatePatientMessage,
    CreatePatientCall,
    CreatePatientFunction
);
tool_envelope!(
    UpdatePatientBody,
    UpdatePatientArgs,
    UpdatePatientRequest,
    UpdatePatientMessage,
    UpdatePatientCall,
    UpdatePatientFunction
);
tool_envelope!(
    ListProvidersBody,
    ListProvidersArgs,
    ListProvidersRequest,
    ListProvidersMessage,
    ListProvidersCall,
    ListProvidersFunction
);
tool_envelope!(
    TransferToHumanBody,
    TransferToHumanArgs,
    TransferToHumanRequest,
    TransferToHumanMessage,
    TransferToHumanCall,
    TransferToHumanFunction
);

/// Any Vapi server message sent to the webhook URL.
#[derive(Debug, Object)]
pub struct ServerMessageRequest {
    pub message: ServerMessageObject,
}

/// A server message: `tool-calls`, `function-call`, `transfer-destination-request`,
/// `status-update`, `end-of-call-report`, or any other type (answered with `{}`).
#[derive(Debug, Object)]
pub struct ServerMessageObject {
    #[oai(rename = "type", validator(max_length = 64))]
    pub kind: String,
    #[oai(rename = "toolCallList", validator(max_items = 16))]
    pub tool_call_list: Option<Vec<AnyToolCall>>,
    #[oai(rename = "functionCall")]
    pub function_call: Option<LegacyFunctionCall>,
    pub call: Option<CallObject>,
    pub customer: Option<CustomerObject>,
    #[oai(rename = "phoneNumber")]
    pub phone_number: Option<PhoneNumberObject>,
    pub assistant: Option<AssistantObject>,
    /// For `status-update`.
    #[oai(validator(max_length = 64))]
    pub status: Option<String>,
    /// For `end-of-call-report`.
    #[oai(rename = "endedReason", validator(max_length = 256))]
    pub ended_reason: Option<String>,
}

/// A call to any of the gateway's tools, named by `function.name`.
#[derive(Debug, Object)]
pub struct AnyToolCall {
    #[oai(validator(max_length = 128))]
    pub id: String,
    pub function: AnyFunction,
}

/// A function name and its arguments (an object, or JSON text of one).
#[derive(Debug, Object)]
pub struct AnyFunction {
    #[oai(validator(max_length = 64))]
    pub name: String,
    pub arguments: Option<serde_json::Value>,
}

/// The deprecated `function-call` message's call.
#[derive(Debug, Object)]
pub struct LegacyFunctionCall {
    #[oai(validator(max_length = 64))]
    pub name: String,
    pub parameters: Option<serde_json::Value>,
}

pub struct ServerMessageBody;

impl EnvelopeSchema for ServerMessageBody {
    type Schema = ServerMessageRequest;
}
