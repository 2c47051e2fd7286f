//! `GET /healthz` (the process is alive) and `GET /readyz` (it can serve tool calls: a Vapi
//! secret is configured and the audit spool accepts entries).

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{ApiTags, AppState};

/// Health or readiness.
#[derive(Debug, Object)]
pub struct Health {
    /// `ok`, or `unavailable`.
    pub status: String,
    /// What is missing, when not ready.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Ready to serve tool calls.
    #[oai(status = 200)]
    Ready(Json<Health>),
    /// Not ready; `detail` says why.
    #[oai(status = 503)]
    NotReady(Json<Health>),
}

pub struct HealthApi;

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// 200 while the process runs.
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> Json<Health> {
        Json(Health {
            status: "ok".into(),
            detail: None,
        })
    }

    /// Readiness
    ///
    /// 200 when tool calls can be served: a Vapi secret is configured, the audit spool accepts
    /// entries (open, not stopped by a failed sync) and its filesystem has more free space than
    /// `AUDIT_MIN_FREE_MIB`. A 503 says which of these is missing.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self, Data(state): Data<&Arc<AppState>>) -> ReadyResponse {
        let problem = if state.auth.is_none() {
            Some("VAPI_WEBHOOK_SECRET is not set".to_owned())
        } else {
            state.receptionist.audit().ready().err()
        };
        match problem {
            None => ReadyResponse::Ready(Json(Health {
                status: "ok".into(),
                detail: None,
            })),
            Some(detail) => ReadyResponse::NotReady(Json(Health {
                status: "unavailable".into(),
                detail: Some(detail),
            })),
        }
    }
}
