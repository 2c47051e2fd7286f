//! Answering the tool calls of one Vapi message: who is calling about which practice, each
//! call's arguments parsed for its tool (by the route's arguments type, or on the webhook by the
//! tool each call names), and the results in the order of the calls.

use poem::Request;

use super::{args::Parser, tools::parser};
use crate::api::{AppState, RequestMeta, middleware::deny_and_audit};
use crate::{
    practices::{Binding, PracticeKey},
    receptionist::{ArgError, CallInfo, Tool},
    vapi::{
        envelope::ServerMessage,
        results::{ToolResult, one_line},
    },
};

/// The tool of a `/vapi/tools/{tool}` route and the parser of its arguments type.
pub type Route = (Tool, Parser);

/// A request refused for its credentials (already audited): answer 401, no detail.
#[derive(Debug)]
pub struct Denied;

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
        control_url: ctx.control_url.clone(),
    }
}

/// A practice with its own Vapi secret is reached only with requests that secret verified, and
/// a request a practice's secret verified reaches only that practice. Anything else is refused
/// like a bad signature: 401, audited as denied.
pub async fn check_signer(
    state: &AppState,
    req: &Request,
    message: &ServerMessage,
) -> Result<(), Denied> {
    let meta = req.extensions().get::<RequestMeta>();
    let signed_by = meta.and_then(|m| m.signed_by.as_ref());
    if signed_by.is_none() && state.practice_auth.current().is_empty() {
        return Ok(());
    }
    let info = call_info(message, req);
    let bound = match state.receptionist.practice(&info.practice).await {
        Ok(Binding::Bound(practice)) => Some(practice.profile.account_id.clone()),
        _ => None,
    };
    let own_secret = bound
        .as_ref()
        .filter(|account| state.practice_auth.has_own(account));
    match (own_secret, signed_by) {
        (None, None) => Ok(()),
        (Some(own), Some(signer)) if own == signer => Ok(()),
        _ => {
            let reason = "signed with a credential that is not the practice's own";
            deny_and_audit(state, req, "vapi", reason.into()).await;
            Err(Denied)
        }
    }
}

/// Answers every call in order. `route` is the tool of a `/vapi/tools/{tool}` route and its
/// arguments' parser; on the webhook each call names its own tool.
pub async fn answer_all(
    state: &AppState,
    req: &Request,
    message: ServerMessage,
    route: Option<Route>,
) -> Vec<ToolResult> {
    let route_tool = route.map(|(tool, _)| tool);
    let info = call_info(&message, req);
    // One budget for the whole request, shared by its calls in order.
    let deadline = tokio::time::Instant::now() + state.request_budget;
    let mut results = Vec::with_capacity(message.tool_calls.len());
    for call in message.tool_calls {
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
                let parse = route.map_or_else(|| parser(tool), |(_, parse)| parse);
                let request = call
                    .arguments
                    .map_err(|why| ArgError::new("arguments", why))
                    .and_then(|arguments| parse(tool, arguments));
                state
                    .receptionist
                    .answer(&info, tool, &call.id, request, left)
                    .await
            }
        };
        results.push(ToolResult::new(name, call.id, answer));
    }
    results
}
