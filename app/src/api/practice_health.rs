//! `GET /practices/{account_id}/health`: the practice doctor's report (`crate::doctor`) for
//! operators, behind the same Cognito access token as the audit trail and the front desk's
//! messages (`admin.rs`: 401 without a valid one, audited as a denied authentication; 503 when
//! no user pool is configured). 200 with the report whatever its verdict (the report is the
//! answer); 404 when the directory does not know the practice; 400 for an account id over 200
//! characters. The read is audited (actor admin, which practice, the overall verdict; never the
//! checks' findings) before the answer leaves; if it cannot be, nothing is answered (503).

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json};

use super::{
    ApiTags, AppState,
    admin_gate::{Refusal, admin_only, audit_practice_read, service_unavailable},
    problem::ProblemJson,
};
use crate::{doctor, pms::AccountId};

/// How a check went.
#[derive(Debug, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warning,
    Failed,
    Skipped,
}

impl From<doctor::Verdict> for Verdict {
    fn from(v: doctor::Verdict) -> Self {
        match v {
            doctor::Verdict::Ok => Verdict::Ok,
            doctor::Verdict::Warning => Verdict::Warning,
            doctor::Verdict::Failed => Verdict::Failed,
            doctor::Verdict::Skipped => Verdict::Skipped,
        }
    }
}

/// One check of the practice.
#[derive(Debug, Object)]
pub struct HealthCheck {
    /// `profile`, `credentials`, `schedule`, `sync_agent` or `writebacks`.
    pub check: String,
    pub verdict: Verdict,
    /// What was found, in plain words (never patient data).
    pub detail: String,
    /// What an operator should do; absent when the check is ok or skipped.
    #[oai(skip_serializing_if_is_none)]
    pub next_step: Option<String>,
}

/// The practice doctor's report.
#[derive(Debug, Object)]
pub struct PracticeHealth {
    pub account_id: String,
    /// The worst verdict of the checks (a skipped check counts as ok).
    pub verdict: Verdict,
    /// When the practice was examined (RFC 3339, UTC).
    pub checked_at: String,
    /// In order: profile, credentials, schedule, sync_agent, writebacks.
    pub checks: Vec<HealthCheck>,
}

impl From<doctor::Report> for PracticeHealth {
    fn from(r: doctor::Report) -> Self {
        Self {
            account_id: r.account_id,
            verdict: r.verdict.into(),
            checked_at: r.checked_at,
            checks: r
                .checks
                .into_iter()
                .map(|c| HealthCheck {
                    check: c.check.to_owned(),
                    verdict: c.verdict.into(),
                    detail: c.detail,
                    next_step: c.next_step,
                })
                .collect(),
        }
    }
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_path")]
pub enum HealthResponse {
    /// The report, whatever its verdict.
    #[oai(status = 200)]
    Ok(Json<PracticeHealth>),
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
    /// No practice with this account id in the directory.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// Cognito is not configured (`COGNITO_ISSUER`, `COGNITO_CLIENT_ID`), the user pool's keys
    /// could not be fetched, or this read could not be audited.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_path(e: poem::Error) -> HealthResponse {
    HealthResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

fn unavailable(detail: impl Into<String>) -> HealthResponse {
    HealthResponse::Unavailable(service_unavailable(detail))
}

pub struct PracticeHealthApi;

#[OpenApi(tag = "ApiTags::Admin")]
impl PracticeHealthApi {
    /// A practice's health, check by check
    ///
    /// Requires a Cognito access token of the configured user pool and app client
    /// (`Authorization: Bearer <token>`). Examines the practice: its profile and routes, its
    /// Sikka credentials and request key, a read of today's schedule, its Sikka sync agent
    /// (`health_check`, `data_sync_status`), and whether its last write settled. Each check has
    /// a verdict (`ok`, `warning`, `failed`, `skipped`), what was found and what to do next.
    /// The read is audited (who, which practice, the verdict).
    #[oai(
        path = "/practices/:account_id/health",
        method = "get",
        operation_id = "practice_health"
    )]
    async fn health(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        /// The practice's account id.
        #[oai(validator(max_length = 200))]
        account_id: Path<String>,
    ) -> HealthResponse {
        let admin = match admin_only(state, req).await {
            Ok(admin) => admin,
            Err(Refusal::Unauthorized(problem, challenge)) => {
                return HealthResponse::Unauthorized(problem, challenge);
            }
            Err(Refusal::Unavailable(problem)) => return HealthResponse::Unavailable(problem),
        };
        let account = AccountId::new(account_id.0);
        let report = state.doctor.examine(&account).await;
        let what = format!("verdict {}", report.verdict.as_str());
        if let Err(e) =
            audit_practice_read(state, req, &admin, "practice_health", account, what).await
        {
            tracing::error!(error = %e, "audit entry for a practice's health failed");
            return unavailable(
                "This read could not be audited, so nothing is answered; retry later.",
            );
        }
        if !report.found {
            return HealthResponse::NotFound(ProblemJson::new(
                poem::http::StatusCode::NOT_FOUND,
                "Not Found",
                format!("No practice {} in the directory.", report.account_id),
            ));
        }
        HealthResponse::Ok(Json(report.into()))
    }
}
