//! `GET /audit/events`: the audit trail, read back by the people who must read it (a practice's
//! compliance officer, an operator), behind a Cognito access token (`admin::cognito`).
//!
//! - No user pool configured (`COGNITO_ISSUER`, `COGNITO_CLIENT_ID`) or no audit store to read:
//!   503 saying which.
//! - No token, or one that does not verify: 401 with `WWW-Authenticate: Bearer`, audited as a
//!   denied authentication by the one `deny_and_audit` (actor `admin`, the reason in words; the
//!   token is never logged nor audited).
//! - A bad filter: 400 naming it.
//! - Otherwise the entries matching the filters (as stored: the audit entries' JSON objects,
//!   oldest first) and a `next_token` when there may be more. The read itself is audited — who
//!   (the token's `sub` and username), which filters, never the results — before the answer
//!   leaves; if it cannot be, nothing is answered (503).

use std::sync::Arc;

use jiff::Timestamp;
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Query, payload::Json};

use super::{
    ApiTags, AppState, RequestMeta, admin_gate::service_unavailable, middleware::deny_and_audit,
    problem::ProblemJson,
};
use crate::{
    admin::{
        AdminIdentity, AuditFilter, AuditQuery, CognitoSettings, CognitoVerifier, QueryError,
        TokenError,
        query::{DEFAULT_LIMIT, MAX_LIMIT},
    },
    audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome},
    clock::Clock,
};

/// The admin routes' part of [`AppState`]. `None` in either field: the routes answer 503.
#[derive(Default)]
pub struct AdminState {
    pub cognito: Option<CognitoVerifier>,
    pub query: Option<Arc<dyn AuditQuery>>,
}

impl AdminState {
    /// The verifier for `cognito` (if configured), checking `exp` with `clock`, and `query`.
    pub fn new(
        cognito: Option<CognitoSettings>,
        clock: Clock,
        query: Option<Arc<dyn AuditQuery>>,
    ) -> Self {
        Self {
            cognito: cognito.map(|settings| CognitoVerifier::new(settings, clock)),
            query,
        }
    }
}

/// One page of the audit trail.
#[derive(Debug, Object)]
pub struct AuditEventsPage {
    /// The matching entries, as stored (see the audit trail's entry format), oldest first.
    pub entries: Vec<serde_json::Value>,
    /// Pass as `next_token` for the next page; absent when there is nothing more.
    #[oai(skip_serializing_if_is_none)]
    pub next_token: Option<String>,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_query")]
pub enum AuditEventsResponse {
    /// The matching entries.
    #[oai(status = 200)]
    Ok(Json<AuditEventsPage>),
    /// A filter is not of the documented form, or `next_token` is not one this gateway gave.
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
    /// could not be fetched, or the audit trail cannot be read or this read cannot be audited.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_query(e: poem::Error) -> AuditEventsResponse {
    AuditEventsResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

fn unavailable(detail: impl Into<String>) -> AuditEventsResponse {
    AuditEventsResponse::Unavailable(service_unavailable(detail))
}

pub struct AdminApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl AdminApi {
    /// The audit trail
    ///
    /// Requires a Cognito access token of the configured user pool and app client
    /// (`Authorization: Bearer <token>`). Answers the audit entries matching every filter given,
    /// oldest first, at most `limit`, and a `next_token` while there may be more. The read is
    /// audited (who, which filters).
    #[oai(path = "/audit/events", method = "get", operation_id = "audit_events")]
    #[allow(clippy::too_many_arguments)]
    async fn events(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        /// The practice's account id.
        #[oai(validator(max_length = 200))]
        account_id: Query<Option<String>>,
        /// Entries at or after this instant (RFC 3339, with its offset).
        from: Query<Option<String>>,
        /// Entries before this instant (RFC 3339, with its offset).
        to: Query<Option<String>>,
        /// The Vapi call id.
        #[oai(validator(max_length = 200))]
        call_id: Query<Option<String>>,
        /// Entries naming this patient id.
        #[oai(validator(max_length = 200))]
        patient_id: Query<Option<String>>,
        /// `read`, `create`, `update`, `delete`, `authenticate`, `credential_change` or `notify`.
        action: Query<Option<String>>,
        /// `success`, `denied`, `failed`, `pending` or `intent`.
        outcome: Query<Option<String>>,
        /// Only entries involving patient data: naming patients, or of a tool that reads or
        /// writes patient records (appointments, patient search and records), whatever the
        /// outcome.
        phi_only: Query<Option<bool>>,
        /// At most this many entries (default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000")))]
        limit: Query<Option<u32>>,
        /// The `next_token` of the previous page.
        #[oai(validator(max_length = 4096))]
        next_token: Query<Option<String>>,
    ) -> AuditEventsResponse {
        let Some(cognito) = &state.admin.cognito else {
            return unavailable(
                "Admin routes need a Cognito user pool: set COGNITO_ISSUER and COGNITO_CLIENT_ID.",
            );
        };
        let Some(query) = &state.admin.query else {
            return unavailable("No audit store to read is configured on this gateway.");
        };
        let admin = match authenticate(state, cognito, req).await {
            Ok(admin) => admin,
            Err(refused) => return refused,
        };
        let filter = match filter(
            account_id.0,
            from.0,
            to.0,
            call_id.0,
            patient_id.0,
            action.0,
            outcome.0,
            phi_only.0,
        ) {
            Ok(filter) => filter,
            Err(detail) => {
                return AuditEventsResponse::BadRequest(ProblemJson::bad_request(detail));
            }
        };
        let limit = limit.0.map_or(DEFAULT_LIMIT, |n| n as usize).min(MAX_LIMIT);
        let page = query.query(&filter, limit, next_token.0.as_deref()).await;
        let outcome = match &page {
            Ok(_) => AuditOutcome::Success,
            Err(_) => AuditOutcome::Failed,
        };
        if let Err(e) = audit_read(state, req, &admin, &filter, outcome).await {
            tracing::error!(error = %e, "audit entry for reading the audit trail failed");
            return unavailable(
                "This read could not be audited, so nothing is answered; retry later.",
            );
        }
        match page {
            Ok(page) => AuditEventsResponse::Ok(Json(AuditEventsPage {
                entries: page
                    .entries
                    .iter()
                    .filter_map(|e| serde_json::to_value(e).ok())
                    .collect(),
                next_token: page.next_token,
            })),
            Err(QueryError::BadToken) => AuditEventsResponse::BadRequest(ProblemJson::bad_request(
                QueryError::BadToken.to_string(),
            )),
            Err(e @ QueryError::Unavailable(_)) => {
                tracing::error!(error = %e, "reading the audit trail failed");
                unavailable("The audit trail could not be read; retry later.")
            }
        }
    }
}

/// The bearer token's admin, or the refusal (audited).
pub(super) async fn authenticate(
    state: &AppState,
    cognito: &CognitoVerifier,
    req: &Request,
) -> Result<AdminIdentity, AuditEventsResponse> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let verified = match token {
        Some(token) => cognito.verify(token).await,
        None => Err(TokenError::Missing),
    };
    let failure = match verified {
        Ok(admin) => return Ok(admin),
        Err(failure) => failure,
    };
    tracing::warn!(reason = %failure, "admin request denied");
    deny_and_audit(state, req, "admin", failure.to_string()).await;
    if let TokenError::Jwks(_) = failure {
        return Err(unavailable(
            "The user pool's signing keys could not be fetched, so no token can be checked; retry later.",
        ));
    }
    let challenge = match failure {
        TokenError::Missing => "Bearer",
        _ => "Bearer error=\"invalid_token\"",
    };
    Err(AuditEventsResponse::Unauthorized(
        ProblemJson::new(
            poem::http::StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "A valid Cognito access token is required (Authorization: Bearer <token>).",
        ),
        challenge.into(),
    ))
}

/// The query's filters, or what is wrong with one.
#[allow(clippy::too_many_arguments)]
fn filter(
    account_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
    call_id: Option<String>,
    patient_id: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    phi_only: Option<bool>,
) -> Result<AuditFilter, String> {
    let instant = |name: &str, value: Option<String>| -> Result<Option<Timestamp>, String> {
        value
            .map(|v| {
                v.trim().parse::<Timestamp>().map_err(|_| {
                    format!("{name} must be an RFC 3339 instant with its offset, such as 2027-03-14T09:55:00-07:00")
                })
            })
            .transpose()
    };
    let filter = AuditFilter {
        account_id,
        from: instant("from", from)?,
        to: instant("to", to)?,
        call_id,
        patient_id,
        action: word(
            "action",
            action,
            "read, create, update, delete, authenticate, credential_change, notify",
        )?,
        outcome: word(
            "outcome",
            outcome,
            "success, denied, failed, pending, intent",
        )?,
        phi_only: phi_only.unwrap_or(false),
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err("from must not be after to".into());
    }
    Ok(filter)
}

/// An action or outcome from its word (`read`, `denied`), or what is expected.
fn word<T: serde::de::DeserializeOwned>(
    name: &str,
    value: Option<String>,
    expected: &str,
) -> Result<Option<T>, String> {
    value
        .map(|v| {
            serde_json::from_value(serde_json::Value::String(v.trim().to_owned()))
                .map_err(|_| format!("{name} must be one of: {expected}"))
        })
        .transpose()
}

/// Audits the read: who, which filters, and whether it could be answered (never the results).
async fn audit_read(
    state: &AppState,
    req: &Request,
    admin: &AdminIdentity,
    filter: &AuditFilter,
    outcome: AuditOutcome,
) -> Result<(), crate::audit::AuditError> {
    let meta = req.extensions().get::<RequestMeta>();
    let who = match &admin.username {
        Some(name) => format!("{} ({name})", admin.sub),
        None => admin.sub.clone(),
    };
    let event = AuditEvent {
        action: AuditAction::Read,
        outcome,
        resource: req.uri().path().to_owned(),
        account_id: None,
        actor: AuditActor {
            kind: "admin".into(),
            ..Default::default()
        },
        patient_ids: Vec::new(),
        request_id: meta.map(|m| m.request_id.clone()),
        source_ip: meta.and_then(|m| m.source_ip.clone()),
        reason: Some(format!("by {who}; {}", filter.describe())),
    };
    state.receptionist.audit().record(event).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(from: &str, to: &str, action: &str) -> Result<AuditFilter, String> {
        filter(
            None,
            Some(from.into()),
            Some(to.into()),
            None,
            None,
            Some(action.into()),
            None,
            None,
        )
    }

    #[test]
    fn filters_parse_or_say_what_is_wrong() {
        let ok = parse("2027-03-14T09:55:00-07:00", "2027-03-15T00:00:00Z", "read").unwrap();
        assert_eq!(ok.action, Some(AuditAction::Read));
        assert!(
            parse("yesterday", "2027-03-15T00:00:00Z", "read")
                .unwrap_err()
                .contains("from")
        );
        assert!(
            parse("2027-03-14T09:55:00Z", "2027-03-15T00:00:00Z", "peek")
                .unwrap_err()
                .contains("action")
        );
        assert!(
            parse("2027-03-16T00:00:00Z", "2027-03-15T00:00:00Z", "read")
                .unwrap_err()
                .contains("after")
        );
    }
}
