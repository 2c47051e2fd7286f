//! The request bodies of the Vapi routes: [`VapiBody`], a server message checked against its
//! documented schema then read by the tolerant envelope parser (`vapi::envelope`, which takes
//! every variant Vapi sends rather than the schema's exact shape), and the schemas that document
//! it — per tool (each operation carries its tool's argument schema, made by [`envelope_schema!`]
//! from the arguments type) and for the webhook ([`ServerMessageRequest`]).

use std::marker::PhantomData;

use poem_openapi::{Object, types::Type};
use serde_json::Value;

use super::args::ToolArgs;
use crate::api::{
    checked::{Checked, FromChecked},
    problem::ProblemJson,
};
use crate::vapi::envelope::{self, MessageKind, ServerMessage};

/// Why a `tool-calls` message without calls is refused.
pub const NO_TOOL_CALL: &str = "The message has no tool call: expected a non-empty toolCallList, toolCalls or toolWithToolCallList.";

/// A Vapi request body: a server message, documented by `S`'s schema (a tool's arguments type,
/// or [`ServerMessageRequest`] for the webhook).
pub type VapiBody<S> = Checked<Envelope<S>>;

/// What documents a Vapi request body.
pub trait EnvelopeSchema: Send + 'static {
    type Schema: Type;
}

/// A tool route's body is documented by the `tool-calls` message carrying its arguments.
impl<A: ToolArgs> EnvelopeSchema for A {
    type Schema = A::Body;
}

/// A parsed Vapi server message, documented by `S`.
pub struct Envelope<S> {
    pub message: ServerMessage,
    _schema: PhantomData<fn() -> S>,
}

impl<S: EnvelopeSchema> FromChecked for Envelope<S> {
    type Schema = S::Schema;

    fn not_json(error: serde_json::Error) -> String {
        envelope::invalid_json(error).to_string()
    }

    fn drop_nulls(value: &mut Value) {
        strip_nulls(value);
    }

    fn read(value: Value, verdict: Result<(), String>) -> Result<Self, String> {
        let message = envelope::parse_value(&value).map_err(|e| e.to_string())?;
        // The documented schema is the contract: a body it rejects is refused, with the place.
        if let Err(detail) = verdict {
            if message.tool_calls.is_empty() && message.kind == MessageKind::ToolCalls {
                return Err(NO_TOOL_CALL.to_owned());
            }
            return Err(detail);
        }
        Ok(Self {
            message,
            _schema: PhantomData,
        })
    }

    fn refuse(detail: String) -> poem::Error {
        poem::Error::from_response(ProblemJson::bad_request(detail).response())
    }
}

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

/// The request body schema of a tool route, from its arguments type: `envelope_schema! { Args:
/// Request, Message, Call, Function }` names the four schema types of the document.
macro_rules! envelope_schema {
    ($args:ty: $request:ident, $message:ident, $call:ident, $function:ident) => {
        /// A Vapi `tool-calls` server message.
        #[derive(Debug, poem_openapi::Object)]
        pub struct $request {
            pub message: $message,
        }

        /// The message: the tool calls to answer, in order, and who is calling whom.
        #[derive(Debug, poem_openapi::Object)]
        pub struct $message {
            /// `tool-calls`.
            #[oai(rename = "type", validator(max_length = 64))]
            pub kind: String,
            /// The calls to answer, in order.
            #[oai(rename = "toolCallList", validator(min_items = 1, max_items = 16))]
            pub tool_call_list: Vec<$call>,
            pub call: Option<$crate::api::vapi::body::CallObject>,
            pub customer: Option<$crate::api::vapi::body::CustomerObject>,
            #[oai(rename = "phoneNumber")]
            pub phone_number: Option<$crate::api::vapi::body::PhoneNumberObject>,
            pub assistant: Option<$crate::api::vapi::body::AssistantObject>,
        }

        /// One tool call.
        #[derive(Debug, poem_openapi::Object)]
        pub struct $call {
            /// Echoed back as `toolCallId`.
            #[oai(validator(max_length = 128))]
            pub id: String,
            pub function: $function,
        }

        /// The function called and the model's arguments.
        #[derive(Debug, poem_openapi::Object)]
        pub struct $function {
            #[oai(validator(max_length = 64))]
            pub name: String,
            pub arguments: $args,
        }
    };
}
pub(super) use envelope_schema;

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

impl EnvelopeSchema for ServerMessageRequest {
    type Schema = Self;
}

/// Null means absent in the envelope: every `null` member of an object is dropped before the
/// body is validated (OpenAPI 3.0's `nullable` is not JSON Schema; the validator ignores it), so a
/// required field sent as null is still missing. Tool arguments are left as they were sent.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, v) in map.iter_mut() {
                if key != "arguments" && key != "parameters" {
                    strip_nulls(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}
