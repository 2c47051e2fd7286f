//! Answering the tool calls of one Vapi message: who is calling about which practice, each
//! call's arguments parsed for its tool, and the results in the order of the calls.

use poem::Request;
use poem_openapi::Object;

use super::args::*;
use crate::api::{AppState, RequestMeta};
use crate::{
    practices::{Binding, PracticeKey},
    receptionist::{ArgError, CallInfo, Tool, ToolRequest},
    vapi::{
        envelope::{ServerMessage, ToolCall},
        results::one_line,
    },
};

/// The answer to a `tool-calls` message: one result per call, in the same order.
#[derive(Debug, Object, serde::Serialize)]
pub struct ToolResults {
    pub results: Vec<ToolResultItem>,
}

/// One tool call's outcome: exactly one of `result` and `error`, each a single line.
#[derive(Debug, Object, serde::Serialize)]
pub struct ToolResultItem {
    /// The tool's name.
    pub name: String,
    /// The `id` of the call this answers.
    #[oai(rename = "toolCallId")]
    #[serde(rename = "toolCallId")]
    pub tool_call_id: String,
    /// What the assistant should know or say (compact JSON text for structured data).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// What went wrong and what the assistant should do about it.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Builds the receptionist's view of the call from the message and the HTTP request. The caller
/// is the call's own customer number only: nothing in the tool arguments can claim one.
pub fn call_info(message: &ServerMessage, req: &Request) -> CallInfo {
    let meta = req.extensions().get::<RequestMeta>();
    let ctx = &message.call;
    CallInfo {
        call_id: ctx.call_id.clone(),
        org_id: ctx.org_id.clone(),
        caller: ctx.customer_number.clone(),
        request_id: meta.map(|m| m.request_id.clone()),
        source_ip: meta.and_then(|m| m.source_ip.clone()),
        practice: PracticeKey {
            phone_number_id: ctx.phone_number_id.clone(),
            assistant_id: ctx.assistant_id.clone(),
            phone_number: ctx.practice_number.clone(),
            claimed_account: ctx.account_id.clone(),
        },
    }
}

/// A practice with its own Vapi secret is reached only with requests that secret verified, and
/// a request a practice's secret verified reaches only that practice. Anything else is refused
/// like a bad signature: 401, audited as denied.
pub async fn check_signer(
    state: &AppState,
    req: &Request,
    message: &ServerMessage,
) -> Result<(), poem::Response> {
    let meta = req.extensions().get::<RequestMeta>();
    let signed_by = meta.and_then(|m| m.signed_by.as_ref());
    if signed_by.is_none() && state.practice_auth.is_empty() {
        return Ok(());
    }
    let info = call_info(message, req);
    let bound = match state.receptionist.practice(&info.practice).await {
        Ok(Binding::Bound(practice)) => Some(practice.profile.account_id.clone()),
        _ => None,
    };
    let own_secret = bound
        .as_ref()
        .filter(|account| state.practice_auth.iter().any(|(a, _)| a == *account));
    match (own_secret, signed_by) {
        (None, None) => Ok(()),
        (Some(own), Some(signer)) if own == signer => Ok(()),
        _ => Err(crate::api::middleware::deny(
            state,
            req.uri().path().to_owned(),
            info.request_id,
            info.source_ip,
            "signed with a credential that is not the practice's own".into(),
        )
        .await),
    }
}

/// Parses a call's arguments for `tool`.
pub fn parse_request(tool: Tool, call: &ToolCall) -> Result<ToolRequest, ArgError> {
    let args = call
        .arguments
        .clone()
        .map_err(|why| ArgError::new("arguments", why))?;
    match tool {
        Tool::CheckAvailability => from_arguments::<CheckAvailabilityArgs>(args)?.parse(),
        Tool::BookAppointment => from_arguments::<BookAppointmentArgs>(args)?.parse(),
        Tool::CancelAppointment => from_arguments::<CancelAppointmentArgs>(args)?.parse(),
        Tool::RescheduleAppointment => from_arguments::<RescheduleAppointmentArgs>(args)?.parse(),
        Tool::GetAppointments => Ok(ToolRequest::GetAppointments {
            identity: from_arguments::<PatientArgs>(args)?.parse_identity()?,
        }),
        Tool::SearchPatients => Ok(ToolRequest::SearchPatients {
            identity: from_arguments::<PatientArgs>(args)?.parse_identity()?,
        }),
        Tool::GetPatientInfo => Ok(ToolRequest::GetPatientInfo {
            identity: from_arguments::<PatientArgs>(args)?.parse_identity()?,
        }),
        Tool::CreatePatient => from_arguments::<CreatePatientArgs>(args)?.parse(),
        Tool::UpdatePatient => from_arguments::<UpdatePatientArgs>(args)?.parse(),
        Tool::ListProviders => {
            from_arguments::<ListProvidersArgs>(args)?;
            Ok(ToolRequest::ListProviders)
        }
        Tool::TransferToHuman => {
            let args = from_arguments::<TransferToHumanArgs>(args)?;
            Ok(ToolRequest::TransferToHuman {
                reason: args.reason,
            })
        }
    }
}

/// Answers every call in order. `route_tool` is the tool of a `/vapi/tools/{tool}` route; on
/// the webhook each call names its own tool.
pub async fn answer_all(
    state: &AppState,
    req: &Request,
    message: &ServerMessage,
    route_tool: Option<Tool>,
) -> Vec<ToolResultItem> {
    let info = call_info(message, req);
    // One budget for the whole request, shared by its calls in order.
    let deadline = tokio::time::Instant::now() + state.request_budget;
    let mut results = Vec::with_capacity(message.tool_calls.len());
    for call in &message.tool_calls {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let named = Tool::from_name(&call.name);
        let tool = route_tool.or(named);
        let name = if call.name.is_empty() {
            route_tool.map_or("", |t| t.name()).to_owned()
        } else {
            call.name.clone()
        };
        let answer = match tool {
            // The route and the body must agree on the tool: neither silently wins.
            Some(route)
                if route_tool.is_some() && !call.name.is_empty() && named != Some(route) =>
            {
                let words = format!(
                    "This request was sent to the {} tool's URL but calls {:?}: the route and the tool name disagree, so nothing was done. Check the tool's server URL.",
                    route.name(),
                    one_line(&call.name)
                );
                state
                    .receptionist
                    .deny(&info, route, words, "route and tool name disagree")
                    .await
            }
            None => Err(format!(
                "There is no tool named {:?}. Use one of: {}.",
                one_line(&call.name),
                Tool::ALL
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(tool) => {
                state
                    .receptionist
                    .answer(&info, tool, &call.id, parse_request(tool, call), left)
                    .await
            }
        };
        let (result, error) = match answer {
            Ok(text) => (Some(one_line(&text)), None),
            Err(text) => (None, Some(one_line(&text))),
        };
        results.push(ToolResultItem {
            name,
            tool_call_id: call.id.clone(),
            result,
            error,
        });
    }
    results
}
