//! `POST /twilio/inbound`: Twilio's webhook for texts patients send to the messaging service.
//! Only the opt-out keywords matter here: STOP (and Twilio's other opt-out words) withdraws
//! every practice's texts to that number, START restores them, HELP changes nothing; any other
//! text is acknowledged and not kept (replies are not read).
//!
//! - Texting not configured: 503.
//! - A body that is not a form: 400.
//! - No `X-Twilio-Signature`, one that does not verify (see `sms::inbound`), or an `AccountSid`
//!   that is not ours: 403, audited as a denied authentication (actor `twilio`).
//! - The opt-out or opt-in is recorded, then audited (actor `twilio` with the sender's number,
//!   resource `sms_consent`); when either cannot be, 503 (Twilio logs it; the next keyword is
//!   recorded afresh). The answer is empty TwiML: Twilio's own opt-out handling sends the
//!   confirmation the carriers require.

use std::sync::Arc;

use poem::{IntoResponse, Request, RequestBody, Response, http::StatusCode, web::Data};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::Type,
};

use super::{ApiTags, AppState, RequestMeta, middleware::deny_and_audit, problem::ProblemJson};
use crate::{
    audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome},
    pms::E164,
    sms::inbound::{self, Keyword},
};

/// The empty TwiML answer: nothing to reply.
const EMPTY_TWIML: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#;

/// An inbound text as Twilio posts it (`application/x-www-form-urlencoded`). Twilio sends more
/// parameters than these; all of them are signed, and all are accepted.
#[derive(Debug, Object)]
pub struct TwilioInboundSms {
    /// The message's SID.
    #[oai(rename = "MessageSid", validator(max_length = 64))]
    pub message_sid: Option<String>,
    /// The Twilio account the message arrived on.
    #[oai(rename = "AccountSid", validator(max_length = 64))]
    pub account_sid: Option<String>,
    #[oai(rename = "MessagingServiceSid", validator(max_length = 64))]
    pub messaging_service_sid: Option<String>,
    /// The sender, E.164.
    #[oai(rename = "From", validator(max_length = 32))]
    pub from: String,
    /// The messaging service's number it was sent to.
    #[oai(rename = "To", validator(max_length = 32))]
    pub to: Option<String>,
    /// The text.
    #[oai(rename = "Body", validator(max_length = 1600))]
    pub body: Option<String>,
    /// With Advanced Opt-Out: the keyword Twilio matched (`STOP`, `START` or `HELP`).
    #[oai(rename = "OptOutType", validator(max_length = 16))]
    pub opt_out_type: Option<String>,
}

/// The form's parameters, in order, as sent (what the signature covers).
pub struct TwilioForm(pub Vec<(String, String)>);

impl TwilioForm {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Payload for TwilioForm {
    const CONTENT_TYPE: &'static str = "application/x-www-form-urlencoded";

    fn schema_ref() -> MetaSchemaRef {
        TwilioInboundSms::schema_ref()
    }

    fn register(registry: &mut Registry) {
        TwilioInboundSms::register(registry);
    }
}

impl ParsePayload for TwilioForm {
    const IS_REQUIRED: bool = true;

    async fn from_request(_: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes().await.map_err(|e| {
            poem::Error::from_string(
                format!("The request body could not be read: {e}"),
                StatusCode::BAD_REQUEST,
            )
        })?;
        let params = form_urlencoded::parse(&bytes).into_owned().collect();
        Ok(Self(params))
    }
}

// A form body extractor whose content type is not checked (Twilio always sends a form; a
// missing header must not lose an opt-out).
super::checked::body_extractor!([] TwilioForm);

/// TwiML (`text/xml`).
pub struct TwiMl(pub String);

impl Payload for TwiMl {
    const CONTENT_TYPE: &'static str = "text/xml";

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }
}

impl IntoResponse for TwiMl {
    fn into_response(self) -> Response {
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            .body(self.0)
    }
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_form")]
pub enum InboundResponse {
    /// Received: empty TwiML (no reply).
    #[oai(status = 200)]
    Ok(TwiMl),
    /// The body is not a form Twilio would send (no `From`).
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No valid `X-Twilio-Signature` for this account.
    #[oai(status = 403)]
    Forbidden(ProblemJson),
    /// Texting is not configured, or the opt-out could not be recorded and audited.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_form(e: poem::Error) -> InboundResponse {
    InboundResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

fn unavailable(detail: &str) -> InboundResponse {
    InboundResponse::Unavailable(ProblemJson::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        detail,
    ))
}

pub struct TwilioApi;

#[OpenApi(tag = "ApiTags::Twilio")]
impl TwilioApi {
    /// A text sent to the practices' messaging service
    ///
    /// Twilio's inbound-message webhook. Requires `X-Twilio-Signature`. STOP withdraws every
    /// practice's texts to the sender, START restores them; other texts are not kept.
    #[oai(
        path = "/twilio/inbound",
        method = "post",
        operation_id = "twilio_inbound"
    )]
    async fn inbound(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        form: TwilioForm,
    ) -> InboundResponse {
        let texts = state.receptionist.texts();
        let Some(twilio) = texts.twilio() else {
            return unavailable(
                "Texting is not configured: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_MESSAGING_SERVICE_SID.",
            );
        };
        let signature = req
            .headers()
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok());
        let urls = candidate_urls(state, req);
        let token = twilio.auth_token.expose_bytes();
        let refusal = match signature {
            None => Some("no X-Twilio-Signature header"),
            Some(given) if !inbound::verify(token, &urls, &form.0, given) => {
                Some("X-Twilio-Signature does not verify")
            }
            Some(_)
                if form
                    .get("AccountSid")
                    .is_some_and(|a| a != twilio.account_sid) =>
            {
                Some("AccountSid is not this gateway's Twilio account")
            }
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            deny_and_audit(state, req, "twilio", reason.to_owned()).await;
            return InboundResponse::Forbidden(ProblemJson::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The request is not signed by this gateway's Twilio account.",
            ));
        }
        let Some(from) = form.get("From") else {
            return InboundResponse::BadRequest(ProblemJson::bad_request(
                "The form has no From parameter.",
            ));
        };
        let keyword = Keyword::of(form.get("OptOutType"), form.get("Body").unwrap_or(""));
        let (Some(keyword), Ok(from)) = (keyword, E164::parse(from)) else {
            // Not a keyword (or not a number we could ever text): nothing to record.
            return InboundResponse::Ok(TwiMl(EMPTY_TWIML.into()));
        };
        let consents = texts.consents();
        let now = state.receptionist.clock().now();
        let (recorded, reason) = match keyword {
            Keyword::Stop => (
                consents.opt_out(&from, now).await.map(|()| true),
                "texts stopped: the number replied STOP",
            ),
            Keyword::Start => (
                consents.opt_in(&from).await,
                "texts restored: the number replied START",
            ),
            Keyword::Help => return InboundResponse::Ok(TwiMl(EMPTY_TWIML.into())),
        };
        let outcome = match recorded {
            Ok(_) => AuditOutcome::Success,
            Err(ref e) => {
                tracing::error!(error = %e, "an opt-out could not be recorded");
                AuditOutcome::Failed
            }
        };
        let meta = req.extensions().get::<RequestMeta>();
        let event = AuditEvent {
            action: AuditAction::Update,
            outcome,
            resource: "sms_consent".into(),
            account_id: None,
            actor: AuditActor {
                kind: "twilio".into(),
                caller: Some(from),
                ..Default::default()
            },
            patient_ids: Vec::new(),
            request_id: meta.map(|m| m.request_id.clone()),
            source_ip: meta.and_then(|m| m.source_ip.clone()),
            reason: Some(match &recorded {
                Ok(_) => reason.to_owned(),
                Err(e) => format!("{reason}, but it could not be recorded: {e}"),
            }),
        };
        let audited = state.receptionist.audit().record(event).await;
        match (recorded, audited) {
            (Ok(_), Ok(_)) => InboundResponse::Ok(TwiMl(EMPTY_TWIML.into())),
            _ => unavailable("The opt-out could not be recorded and audited; send it again."),
        }
    }
}

/// The URLs Twilio may have signed: the public base URL's, and the request's own as it
/// arrived (either scheme: a load balancer may end TLS in front of the task).
fn candidate_urls(state: &AppState, req: &Request) -> Vec<String> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/twilio/inbound", |p| p.as_str());
    let mut urls = Vec::new();
    if let Some(base) = &state.public_base_url {
        urls.push(format!("{base}{path}"));
    }
    if let Some(host) = req.headers().get("host").and_then(|h| h.to_str().ok()) {
        for scheme in ["https", "http"] {
            urls.push(format!("{scheme}://{host}{path}"));
        }
    }
    urls
}
