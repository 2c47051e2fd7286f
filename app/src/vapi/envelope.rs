//! Tolerant parsing of Vapi's server messages (`{"message": {...}}`, or a bare message) into a
//! [`ServerMessage`]: the message kind, who the call is for ([`CallContext`]) and the tool calls
//! in order, whichever of the variants seen in the wild carries them (VAPI.md §1).
//!
//! The body is parsed once, borrowing strings from it where possible; every field the gateway
//! does not need is skipped without being built, and a known field of an unexpected type is
//! treated as absent rather than failing the whole request.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::lenient::{Args, List, Obj, Root, Str};
use crate::pms::E164;

/// One server message, reduced to what the gateway acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMessage {
    pub kind: MessageKind,
    pub call: CallContext,
    /// In the order Vapi sent them; answer each, in this order.
    pub tool_calls: Vec<ToolCall>,
    /// `status` of a `status-update`.
    pub status: Option<String>,
    /// `endedReason` of an `end-of-call-report`.
    pub ended_reason: Option<String>,
}

/// The `type` of a server message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    ToolCalls,
    FunctionCall,
    TransferDestinationRequest,
    StatusUpdate,
    EndOfCallReport,
    AssistantRequest,
    KnowledgeBaseRequest,
    Other(String),
}

impl MessageKind {
    fn from_type(kind: &str) -> Self {
        match kind {
            "tool-calls" => Self::ToolCalls,
            "function-call" => Self::FunctionCall,
            "transfer-destination-request" => Self::TransferDestinationRequest,
            "status-update" => Self::StatusUpdate,
            "end-of-call-report" => Self::EndOfCallReport,
            "assistant-request" => Self::AssistantRequest,
            "knowledge-base-request" => Self::KnowledgeBaseRequest,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// Who and what the call is: Vapi's identifiers, the practice line that was called, the caller's
/// number, and the account id from the assistant's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    pub call_id: Option<String>,
    pub org_id: Option<String>,
    pub assistant_id: Option<String>,
    pub phone_number_id: Option<String>,
    /// `message.phoneNumber.number`: the practice's line.
    pub practice_number: Option<E164>,
    /// `message.customer.number`, else `call.customer.number`; `None` when absent or unparseable.
    pub customer_number: Option<E164>,
    /// `accountId` from the assistant's metadata (or the call's assistant overrides).
    pub account_id: Option<String>,
    /// `call.monitor.controlUrl`: where a live call is controlled (a transfer); `None` when
    /// absent or not a string. Only a URL: whether it may be used is the receptionist's call.
    pub control_url: Option<String>,
}

/// One call the model made. `id` is `""` for the legacy `function-call` message. Its `Debug`
/// shows the argument names, never their values (they carry names, dates of birth, numbers).
#[derive(Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    /// `""` when Vapi sent no name: answer it with an error rather than dropping it.
    pub name: String,
    /// The arguments as an object, or why they are unusable (worded for the model to read).
    pub arguments: Result<Map<String, Value>, String>,
}

impl std::fmt::Debug for ToolCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arguments: Result<Vec<&str>, &str> = match &self.arguments {
            Ok(map) => Ok(map.keys().map(String::as_str).collect()),
            Err(_) => Err("[unusable]"),
        };
        f.debug_struct("ToolCall")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("arguments", &arguments)
            .finish()
    }
}

/// Why a body is not a server message at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON (or a JSON shape serde rejected); `detail` carries serde's line and column.
    #[error("the body is not valid JSON: {detail}")]
    InvalidJson {
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("the body must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("the body has no `message` object and no `type`: not a Vapi server message")]
    NoMessage,
    #[error("the message has no `type` string")]
    NoType,
}

/// Parses a server-message body. Fails only when there is no message to act on; anything
/// unknown or oddly typed inside the message is ignored.
pub fn parse(body: &[u8]) -> Result<ServerMessage, EnvelopeError> {
    let root: Root<RawMessage<'_>> = serde_json::from_slice(body).map_err(invalid_json)?;
    from_root(root)
}

/// [`parse`] for a body already parsed into a JSON value (the HTTP layer parses a body once, to
/// check it against its schema and to read it): the same message, read the same lenient way.
pub fn parse_value(body: &Value) -> Result<ServerMessage, EnvelopeError> {
    let root: Root<RawMessage<'_>> = Root::deserialize(body).map_err(invalid_json)?;
    from_root(root)
}

/// Why a body is not JSON, as [`EnvelopeError::InvalidJson`].
pub fn invalid_json(e: serde_json::Error) -> EnvelopeError {
    EnvelopeError::InvalidJson {
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    }
}

fn from_root(root: Root<RawMessage<'_>>) -> Result<ServerMessage, EnvelopeError> {
    let root = match root {
        Root::Object(message) => message,
        Root::Other(kind) => return Err(EnvelopeError::NotAnObject(kind)),
    };
    // `{"message": {...}}`, else a bare message (a bare message's own `message` field, if it
    // has one, is not an envelope unless it carries a `type`).
    let message = match root.message.0 {
        Some(inner) if inner.kind.0.is_some() || root.kind.0.is_none() => *inner,
        _ if root.kind.0.is_some() => root,
        _ => return Err(EnvelopeError::NoMessage),
    };
    let Some(kind) = message.kind.0.as_deref() else {
        return Err(EnvelopeError::NoType);
    };
    let kind = MessageKind::from_type(kind);
    let call = call_context(&message);
    let status = message.status.owned();
    let ended_reason = message.ended_reason.owned();
    Ok(ServerMessage {
        kind,
        call,
        tool_calls: tool_calls(message),
        status,
        ended_reason,
    })
}

/// `toolCallList`, else `toolCalls`, else `toolWithToolCallList[].toolCall`, else the legacy
/// `functionCall`: the first that holds any call.
fn tool_calls(m: RawMessage<'_>) -> Vec<ToolCall> {
    if !m.tool_call_list.0.is_empty() {
        return m
            .tool_call_list
            .0
            .into_iter()
            .map(RawCall::into_call)
            .collect();
    }
    if !m.tool_calls.0.is_empty() {
        return m.tool_calls.0.into_iter().map(RawCall::into_call).collect();
    }
    let nested: Vec<ToolCall> = m
        .tool_with_tool_call_list
        .0
        .into_iter()
        .filter_map(|item| item.tool_call.0.map(RawCall::into_call))
        .collect();
    if !nested.is_empty() {
        return nested;
    }
    match m.function_call.0 {
        Some(legacy) => vec![ToolCall {
            id: String::new(),
            name: legacy.name.owned().unwrap_or_default(),
            arguments: legacy.parameters.or(legacy.arguments).into_map(),
        }],
        None => Vec::new(),
    }
}

fn call_context(m: &RawMessage<'_>) -> CallContext {
    let call = m.call.0.as_ref();
    let phone = m.phone_number.0.as_ref();
    let customer_numbers = [
        m.customer.0.as_ref().and_then(|c| c.number.0.as_deref()),
        call.and_then(|c| c.customer.0.as_ref())
            .and_then(|c| c.number.0.as_deref()),
    ];
    let account_sources = [
        m.assistant.0.as_ref(),
        call.and_then(|c| c.assistant.0.as_ref()),
        m.assistant_overrides.0.as_ref(),
        call.and_then(|c| c.assistant_overrides.0.as_ref()),
    ];
    CallContext {
        call_id: call.and_then(|c| c.id.owned()),
        org_id: call
            .and_then(|c| c.org_id.owned())
            .or_else(|| phone.and_then(|p| p.org_id.owned())),
        assistant_id: call
            .and_then(|c| c.assistant_id.owned())
            .or_else(|| m.assistant.0.as_ref().and_then(|a| a.id.owned())),
        phone_number_id: call
            .and_then(|c| c.phone_number_id.owned())
            .or_else(|| phone.and_then(|p| p.id.owned())),
        practice_number: phone
            .and_then(|p| p.number.0.as_deref())
            .and_then(|n| E164::parse(n).ok()),
        customer_number: customer_numbers
            .into_iter()
            .flatten()
            .find_map(|n| E164::parse(n).ok()),
        account_id: account_sources
            .into_iter()
            .flatten()
            .filter_map(|a| a.metadata.0.as_ref())
            .find_map(|meta| meta.account_id.owned().filter(|id| !id.is_empty())),
        control_url: call
            .and_then(|c| c.monitor.0.as_ref())
            .and_then(|m| m.control_url.owned())
            .filter(|url| !url.trim().is_empty()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMessage<'a> {
    #[serde(borrow, rename = "type")]
    kind: Str<'a>,
    #[serde(borrow)]
    message: Obj<Box<RawMessage<'a>>>,
    #[serde(borrow)]
    tool_call_list: List<RawCall<'a>>,
    #[serde(borrow)]
    tool_calls: List<RawCall<'a>>,
    #[serde(borrow)]
    tool_with_tool_call_list: List<RawToolWithCall<'a>>,
    #[serde(borrow)]
    function_call: Obj<RawFunction<'a>>,
    #[serde(borrow)]
    status: Str<'a>,
    #[serde(borrow)]
    ended_reason: Str<'a>,
    #[serde(borrow)]
    call: Obj<RawCallObject<'a>>,
    #[serde(borrow)]
    phone_number: Obj<RawPhoneNumber<'a>>,
    #[serde(borrow)]
    customer: Obj<RawCustomer<'a>>,
    #[serde(borrow)]
    assistant: Obj<RawAssistant<'a>>,
    #[serde(borrow)]
    assistant_overrides: Obj<RawAssistant<'a>>,
}

/// A tool call: `{id, function: {name, arguments|parameters}}` or flat `{id, name, ...}`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCall<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    function: Obj<RawFunction<'a>>,
    #[serde(borrow)]
    arguments: Args<'a>,
    #[serde(borrow)]
    parameters: Args<'a>,
}

impl RawCall<'_> {
    fn into_call(self) -> ToolCall {
        let (name, args) = match self.function.0 {
            Some(f) => (f.name.0, f.arguments.or(f.parameters)),
            None => (None, Args::Absent),
        };
        let name = name.or(self.name.0).map(|n| n.into_owned());
        let args = args.or(self.arguments).or(self.parameters);
        ToolCall {
            id: self.id.0.map(|id| id.into_owned()).unwrap_or_default(),
            name: name.unwrap_or_default(),
            arguments: args.into_map(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawToolWithCall<'a> {
    #[serde(borrow)]
    tool_call: Obj<RawCall<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawFunction<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    arguments: Args<'a>,
    #[serde(borrow)]
    parameters: Args<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawCallObject<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    org_id: Str<'a>,
    #[serde(borrow)]
    assistant_id: Str<'a>,
    #[serde(borrow)]
    phone_number_id: Str<'a>,
    #[serde(borrow)]
    customer: Obj<RawCustomer<'a>>,
    #[serde(borrow)]
    assistant: Obj<RawAssistant<'a>>,
    #[serde(borrow)]
    assistant_overrides: Obj<RawAssistant<'a>>,
    #[serde(borrow)]
    monitor: Obj<RawMonitor<'a>>,
}

/// `call.monitor`: the live call's listen and control URLs.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMonitor<'a> {
    #[serde(borrow)]
    control_url: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPhoneNumber<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    org_id: Str<'a>,
    #[serde(borrow)]
    number: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawCustomer<'a> {
    #[serde(borrow)]
    number: Str<'a>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawAssistant<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    metadata: Obj<RawMetadata<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawMetadata<'a> {
    #[serde(borrow)]
    account_id: Str<'a>,
}

#[cfg(test)]
#[path = "envelope_tests.rs"]
mod tests;
