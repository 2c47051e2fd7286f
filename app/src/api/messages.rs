//! `GET /practices/{account_id}/messages`: the messages the receptionist took for a practice's
//! front desk (`take_message`), for its staff, behind the same Cognito access token as the audit
//! trail (`admin.rs`: 401 without a valid one, audited as a denied authentication; 503 when no
//! user pool is configured).
//!
//! The messages carry patient data (names, numbers, reasons), so the read is audited — who,
//! which practice, how many messages, never their content — before the answer leaves; if it
//! cannot be, nothing is answered (503). Messages are kept behind the receptionist's message
//! store (`receptionist/messages.rs`): the shared table on the `aws` profile, so every task's.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags, AppState,
    admin_gate::{Refusal, admin_only, audit_practice_read, service_unavailable},
    problem::ProblemJson,
};
use crate::{pms::AccountId, receptionist::messages::FrontDeskMessage};

/// A message taken for the front desk.
#[derive(Debug, Object)]
pub struct FrontDeskMessageItem {
    /// The reference the caller was given.
    pub id: String,
    /// When it was taken (RFC 3339, UTC).
    pub received_at: String,
    /// The Vapi call it was taken on.
    #[oai(skip_serializing_if_is_none)]
    pub call_id: Option<String>,
    pub caller_name: String,
    /// E.164.
    pub callback_number: String,
    /// What the call is about, in the caller's words.
    pub reason: String,
    /// `routine` or `urgent`.
    pub urgency: String,
    /// The practice's next opening (its local time, `YYYY-MM-DDTHH:MM:SS`) when the message
    /// was taken while it was closed: the caller was told to expect a call back from then.
    #[oai(skip_serializing_if_is_none)]
    pub call_back_from: Option<String>,
    /// The Twilio message SID of the text that delivered it to the practice's staff number;
    /// absent when it was not texted (no staff number, texting off, or Twilio refused it).
    #[oai(skip_serializing_if_is_none)]
    pub texted_sid: Option<String>,
}

impl From<FrontDeskMessage> for FrontDeskMessageItem {
    fn from(m: FrontDeskMessage) -> Self {
        Self {
            id: m.id,
            received_at: m.received_at.to_string(),
            call_id: m.call_id,
            caller_name: m.caller_name.into_inner(),
            callback_number: m.callback_number.expose().as_str().to_owned(),
            reason: m.reason.into_inner(),
            urgency: m.urgency.as_str().to_owned(),
            call_back_from: m.call_back_from.map(|at| at.to_string()),
            texted_sid: m.texted,
        }
    }
}

/// A practice's messages, oldest first.
#[derive(Debug, Object)]
pub struct FrontDeskMessages {
    pub messages: Vec<FrontDeskMessageItem>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_path")]
pub enum MessagesResponse {
    /// The practice's messages (none: an empty list).
    #[oai(status = 200)]
    Ok(Json<FrontDeskMessages>),
    /// The account id is not of the documented form (at most 200 characters).
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No bearer token, or not a valid access token of the configured user pool and app client.
    #[oai(status = 401)]
    Unauthorized(
        ProblemJson,
        /// `Bearer` (RFC 6750).
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// Cognito is not configured (`COGNITO_ISSUER`, `COGNITO_CLIENT_ID`), the user pool's keys
    /// could not be fetched, the messages could not be read, or this read could not be audited.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_path(e: poem::Error) -> MessagesResponse {
    MessagesResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

fn unavailable(detail: impl Into<String>) -> MessagesResponse {
    MessagesResponse::Unavailable(service_unavailable(detail))
}

pub struct MessagesApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl MessagesApi {
    /// Messages for a practice's front desk
    ///
    /// Requires a Cognito access token of the configured user pool and app client
    /// (`Authorization: Bearer <token>`). The messages the receptionist took for the practice
    /// (caller, number to call back, reason, urgency, when the caller was told to expect a call
    /// back), oldest first. The read is audited (who, which practice, how many).
    #[oai(
        path = "/practices/:account_id/messages",
        method = "get",
        operation_id = "practice_messages"
    )]
    async fn messages(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        /// The practice's account id.
        #[oai(validator(max_length = 200))]
        account_id: Path<String>,
    ) -> MessagesResponse {
        let admin = match admin_only(state, req).await {
            Ok(admin) => admin,
            Err(Refusal::Unauthorized(problem, challenge)) => {
                return MessagesResponse::Unauthorized(problem, challenge);
            }
            Err(Refusal::Unavailable(problem)) => return MessagesResponse::Unavailable(problem),
        };
        let account = AccountId::new(account_id.0);
        let messages = match state.receptionist.messages().list(&account).await {
            Ok(messages) => messages,
            Err(e) => {
                tracing::error!(error = %e, "messages unavailable");
                return unavailable("The messages cannot be read right now; retry later.");
            }
        };
        let what = format!("{} messages", messages.len());
        if let Err(e) =
            audit_practice_read(state, req, &admin, "practice_messages", account, what).await
        {
            tracing::error!(error = %e, "audit entry for reading messages failed");
            return unavailable(
                "This read could not be audited, so nothing is answered; retry later.",
            );
        }
        MessagesResponse::Ok(Json(FrontDeskMessages {
            messages: messages.into_iter().map(Into::into).collect(),
        }))
    }
}
