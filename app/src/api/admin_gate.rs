//! What the admin routes that read one practice's data share (`messages.rs`,
//! `practice_health.rs`): the Cognito gate — 503 without a user pool, else the audited 401 of
//! `admin::authenticate` — and the audit entry of the read (who, which practice, what in words,
//! never the data).

use poem::Request;

use super::{
    AppState, RequestMeta,
    admin::{AuditEventsResponse, authenticate},
    problem::ProblemJson,
};
use crate::{
    admin::AdminIdentity,
    audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome},
};

/// Why an admin route refused a request: its 401 (with the `WWW-Authenticate` challenge) or 503.
pub(super) enum Refusal {
    Unauthorized(ProblemJson, String),
    Unavailable(ProblemJson),
}

/// The admin behind the request's bearer token, for the routes that read a practice's data:
/// 503 when no user pool is configured, else what [`authenticate`] decides (a refusal audited).
pub(super) async fn admin_only(state: &AppState, req: &Request) -> Result<AdminIdentity, Refusal> {
    let Some(cognito) = &state.admin.cognito else {
        return Err(Refusal::Unavailable(service_unavailable(
            "Admin routes need a Cognito user pool: set COGNITO_ISSUER and COGNITO_CLIENT_ID.",
        )));
    };
    match authenticate(state, cognito, req).await {
        Ok(admin) => Ok(admin),
        Err(AuditEventsResponse::Unauthorized(problem, challenge)) => {
            Err(Refusal::Unauthorized(problem, challenge))
        }
        Err(AuditEventsResponse::Unavailable(problem)) => Err(Refusal::Unavailable(problem)),
        Err(_) => Err(Refusal::Unavailable(service_unavailable(
            "The token could not be checked; retry later.",
        ))),
    }
}

/// Audits an admin's read of a practice's `resource`: who, which practice, and `what` in words
/// (never the data read).
pub(super) async fn audit_practice_read(
    state: &AppState,
    req: &Request,
    admin: &AdminIdentity,
    resource: &str,
    account: crate::pms::AccountId,
    what: String,
) -> Result<(), crate::audit::AuditError> {
    let meta = req.extensions().get::<RequestMeta>();
    let who = match &admin.username {
        Some(name) => format!("{} ({name})", admin.sub),
        None => admin.sub.clone(),
    };
    let event = AuditEvent {
        action: AuditAction::Read,
        outcome: AuditOutcome::Success,
        resource: resource.into(),
        account_id: Some(account),
        actor: AuditActor {
            kind: "admin".into(),
            ..Default::default()
        },
        patient_ids: Vec::new(),
        request_id: meta.map(|m| m.request_id.clone()),
        source_ip: meta.and_then(|m| m.source_ip.clone()),
        reason: Some(format!("by {who}; {what}")),
    };
    state.receptionist.audit().record(event).await.map(|_| ())
}

/// A 503 problem document saying `detail`.
pub(super) fn service_unavailable(detail: impl Into<String>) -> ProblemJson {
    ProblemJson::new(
        poem::http::StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        detail,
    )
}
