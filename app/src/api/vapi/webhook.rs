//! `POST /vapi/webhook`: every Vapi server message on one URL. Tool calls are answered by name,
//! the legacy `function-call` with `{"result": …}`, `transfer-destination-request` (what Vapi's
//! `transferCall` tool asks) with the practice's front desk — or, outside its hours, an error
//! offering a message instead; status updates and end-of-call reports are acknowledged;
//! anything else gets 200 and `{}`.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    body::{ServerMessageRequest, VapiBody},
    dispatch::{answer_all, call_info, check_signer},
};
use crate::api::{ApiTags, AppState, problem::ProblemJson};
use crate::{
    practices::Binding,
    receptionist::hours::{self, Hours},
    vapi::{
        envelope::{MessageKind, ServerMessage},
        results::{ToolResult, one_line},
    },
};

/// The answer to a server message; which fields are present depends on the message type.
#[derive(Debug, Default, Object)]
pub struct ServerMessageResponse {
    /// For `tool-calls`: one result per call, in order.
    #[oai(skip_serializing_if_is_none)]
    pub results: Option<Vec<ToolResult>>,
    /// For the legacy `function-call`.
    #[oai(skip_serializing_if_is_none)]
    pub result: Option<String>,
    /// Why the request cannot be served (for example, no transfer number is set up).
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
    /// For `transfer-destination-request`: where to transfer the caller.
    #[oai(skip_serializing_if_is_none)]
    pub destination: Option<TransferDestination>,
    /// For `transfer-destination-request`: what the assistant says while transferring.
    #[oai(skip_serializing_if_is_none)]
    pub message: Option<SpokenMessage>,
}

/// A phone number to transfer the call to.
#[derive(Debug, Object)]
pub struct TransferDestination {
    /// `number`.
    #[oai(rename = "type")]
    pub kind: String,
    /// E.164.
    pub number: String,
}

/// A message the assistant speaks.
#[derive(Debug, Object)]
pub struct SpokenMessage {
    /// `request-start`.
    #[oai(rename = "type")]
    pub kind: String,
    pub content: String,
}

#[derive(ApiResponse)]
pub enum WebhookResponse {
    /// The answer Vapi expects for the message type (`{}` when none is expected).
    #[oai(status = 200)]
    Ok(Json<ServerMessageResponse>),
    /// Malformed JSON, a message that is not an object, or a `tool-calls` message without calls.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The signature, secret or token did not verify (no detail is given).
    #[oai(status = 401)]
    Unauthorized,
    /// The body is larger than 1 MiB.
    #[oai(status = 413)]
    TooLarge(ProblemJson),
    /// No Vapi secret is configured, so the gateway refuses every server message.
    #[oai(status = 503)]
    NotConfigured(ProblemJson),
}

pub struct WebhookApi;

#[OpenApi(tag = "ApiTags::Vapi")]
impl WebhookApi {
    /// Receive any Vapi server message
    ///
    /// The assistant's server URL. Tool calls are dispatched by function name and answered in
    /// order; see the `/vapi/tools/*` operations for each tool's arguments.
    #[oai(path = "/vapi/webhook", method = "post", operation_id = "vapi_webhook")]
    async fn webhook(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: VapiBody<ServerMessageRequest>,
    ) -> WebhookResponse {
        let message = body.0.message;
        if check_signer(state, req, &message).await.is_err() {
            return WebhookResponse::Unauthorized;
        }
        let reply = match message.kind {
            MessageKind::ToolCalls => {
                if message.tool_calls.is_empty() {
                    return WebhookResponse::BadRequest(ProblemJson::bad_request(
                        "The tool-calls message has no tool call: expected a non-empty toolCallList.",
                    ));
                }
                ServerMessageResponse { results: Some(answer_all(state, req, message, None).await), ..Default::default() }
            }
            MessageKind::FunctionCall => {
                let mut results = answer_all(state, req, message, None).await;
                match results.pop() {
                    Some(item) => ServerMessageResponse { result: Some(item.into_text()), ..Default::default() },
                    None => {
                        return WebhookResponse::BadRequest(ProblemJson::bad_request(
                            "The function-call message has no functionCall.name.",
                        ));
                    }
                }
            }
            MessageKind::TransferDestinationRequest => transfer(state, req, &message).await,
            MessageKind::StatusUpdate => {
                tracing::info!(call_id = ?message.call.call_id, status = ?message.status, "call status");
                ServerMessageResponse::default()
            }
            MessageKind::EndOfCallReport => {
                // The report carries the transcript: only its reason is logged.
                tracing::info!(call_id = ?message.call.call_id, ended_reason = ?message.ended_reason, "call ended");
                ServerMessageResponse::default()
            }
            MessageKind::AssistantRequest => ServerMessageResponse {
                error: Some("This gateway does not choose assistants; set the assistant on the phone number in Vapi.".into()),
                ..Default::default()
            },
            _ => ServerMessageResponse::default(),
        };
        WebhookResponse::Ok(Json(reply))
    }
}

/// Where to transfer the caller: the bound practice's front desk, while it is open (when its
/// hours cannot be read, the transfer is tried).
async fn transfer(
    state: &AppState,
    req: &Request,
    message: &ServerMessage,
) -> ServerMessageResponse {
    let info = call_info(message, req);
    let error = |text: String| ServerMessageResponse {
        error: Some(one_line(&text)),
        ..Default::default()
    };
    match state.receptionist.practice(&info.practice).await {
        Ok(Binding::Bound(practice)) => match practice.transfer_destination() {
            Ok(number) => {
                let now = practice.profile.now(&state.receptionist.clock());
                if let Ok(closed @ Hours::Closed { .. }) =
                    hours::at(practice.pms.as_ref(), now.datetime()).await
                {
                    return error(format!(
                        "{} is closed now and {}, so the call cannot be transferred: nobody is there to answer. Offer to take a message for the staff with take_message.",
                        practice.profile.name,
                        closed.reopening(now.date())
                    ));
                }
                ServerMessageResponse {
                    destination: Some(TransferDestination {
                        kind: "number".into(),
                        number: number.as_str().to_owned(),
                    }),
                    message: Some(SpokenMessage {
                        kind: "request-start".into(),
                        content: format!(
                            "Connecting you to the front desk at {} now.",
                            practice.profile.name
                        ),
                    }),
                    ..Default::default()
                }
            }
            Err(words) => error(words),
        },
        Ok(Binding::NotSetUp) => error(crate::receptionist::NOT_SET_UP.to_owned()),
        Ok(Binding::Disagrees) => error(crate::receptionist::NOT_THIS_PRACTICE.to_owned()),
        Err(words) => error(words),
    }
}
