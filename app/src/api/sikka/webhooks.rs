//! `POST /pms/sikka/webhook/authorize` (Sikka's `app.authorized`: onboard the practice) and
//! `POST /pms/sikka/webhook/data` (a practice's data changed: drop its caches, and on
//! `appointments` settle its pending writebacks at once). Both require the `callback-key`
//! header. Data webhooks answer 200 to everything authenticated (Sikka disables a webhook after
//! five failed deliveries).

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    auth::{callback_key, deny, refusals},
    id_text, origin, unavailable, unprocessable,
};
use crate::api::{ApiTags, AppState, checked::Checked, problem::ProblemJson};
use crate::pms::{AccountId, OfficeId};
use crate::practices::onboarding::{OnboardError, Onboarded};
use crate::secret::Secret;
use crate::secret::same as same_secret;

/// Sikka's `app.authorized` notification: a practice authorized the application. Its `Debug`
/// never shows `secret_key`.
#[derive(Object)]
pub struct AuthorizeBody {
    /// `app.authorized`.
    #[oai(validator(max_length = 64))]
    pub event: String,
    /// The application's id; must be this gateway's `SIKKA_APP_ID`.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub app_id: String,
    /// The practice's Sikka office, e.g. `D36225`.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub office_id: String,
    /// The office's secret key (exchanged for a request key, then stored; never logged).
    #[oai(validator(min_length = 1, max_length = 512))]
    pub secret_key: String,
    #[oai(validator(max_length = 256))]
    pub practice_name: Option<String>,
    /// Sikka's practice id (a string or a number).
    pub practice_id: Option<serde_json::Value>,
    #[oai(validator(max_length = 128))]
    pub pms_type: Option<String>,
    /// The gateway account, when the marketplace authorization link carried one. It must be the
    /// account the practices store binds this office to; it never re-binds an office.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub account_id: Option<String>,
}

impl std::fmt::Debug for AuthorizeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizeBody")
            .field("event", &self.event)
            .field("app_id", &self.app_id)
            .field("office_id", &self.office_id)
            .field("secret_key", &"[secret]")
            .field("practice_name", &self.practice_name)
            .field("practice_id", &self.practice_id)
            .field("pms_type", &self.pms_type)
            .field("account_id", &self.account_id)
            .finish()
    }
}

/// What onboarding did.
#[derive(Debug, Object)]
pub struct AuthorizeAck {
    /// `onboarded` (credentials stored) or `unchanged` (already stored).
    pub status: String,
    pub account_id: String,
    pub office_id: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_authorize")]
pub enum AuthorizeResponse {
    /// The office's secret works and its credentials are stored (or already were).
    #[oai(status = 200)]
    Ok(Json<AuthorizeAck>),
    /// Not a JSON object of the documented shape.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The `callback-key` header or the `app_id` is missing or wrong (no detail is given).
    #[oai(status = 401)]
    Unauthorized,
    /// Not `app.authorized`; the office is bound to no account (or not to the account given);
    /// or Sikka did not accept the secret key.
    #[oai(status = 422)]
    Unprocessable(ProblemJson),
    /// Sikka could not be reached or answered something unusable; retry later.
    #[oai(status = 502)]
    BadGateway(ProblemJson),
    /// `SIKKA_CALLBACK_KEY` or the Sikka application is not configured, or the credential store
    /// or audit trail is unavailable.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_authorize(e: poem::Error) -> AuthorizeResponse {
    AuthorizeResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

/// A Sikka data webhook: `Data_Refresh`, `appointments`, `patient` or `transaction`. Other fields
/// are accepted and ignored.
#[derive(Debug, Object)]
pub struct DataEvent {
    #[oai(validator(max_length = 64))]
    pub event: Option<String>,
    /// The practice's Sikka office (a string or a number).
    pub office_id: Option<serde_json::Value>,
    /// Sikka's practice id (a string or a number).
    pub practice_id: Option<serde_json::Value>,
}

/// The acknowledgement of a data webhook.
#[derive(Debug, Object)]
pub struct DataAck {
    /// `refreshed` (the practice's caches were cleared), or `ignored` (no practice here is bound
    /// to the office).
    pub status: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_data")]
pub enum DataResponse {
    /// Received.
    #[oai(status = 200)]
    Ok(Json<DataAck>),
    /// Not a JSON object.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The `callback-key` header is missing or wrong.
    #[oai(status = 401)]
    Unauthorized,
    /// `SIKKA_CALLBACK_KEY` is not configured.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_data(e: poem::Error) -> DataResponse {
    DataResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

refusals!(AuthorizeResponse, DataResponse);

pub struct SikkaWebhooksApi;

#[OpenApi(tag = "ApiTags::Sikka")]
impl SikkaWebhooksApi {
    /// A practice authorized the application (Sikka `app.authorized`)
    ///
    /// Requires the `callback-key` header. The office's secret key is exchanged for a request key
    /// (proving it works), then stored for the account the practices store binds the office to.
    /// A repeated delivery changes nothing.
    #[oai(
        path = "/pms/sikka/webhook/authorize",
        method = "post",
        operation_id = "sikka_authorize"
    )]
    async fn authorize(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: Checked<AuthorizeBody>,
    ) -> AuthorizeResponse {
        if let Err(refused) = callback_key(state, req).await {
            return refused.into();
        }
        let onboarding = &state.sikka.onboarding;
        let Some(app_id) = onboarding.app_id() else {
            return AuthorizeResponse::Unavailable(unavailable(
                "The Sikka application is not configured (set SIKKA_APP_ID and SIKKA_APP_KEY).",
            ));
        };
        if !same_secret(body.app_id.as_bytes(), app_id.as_bytes()) {
            deny(state, req, "app_id is not this gateway's Sikka application").await;
            return AuthorizeResponse::Unauthorized;
        }
        if let Err(problem) = id_text("practice_id", body.practice_id.as_ref()) {
            return AuthorizeResponse::BadRequest(problem);
        }
        if body.event != "app.authorized" {
            return AuthorizeResponse::Unprocessable(unprocessable(
                "Only the app.authorized event is handled on this route.",
            ));
        }
        let office = OfficeId::new(body.office_id.trim());
        let secret = Secret::new(body.secret_key.clone());
        let claimed = body.account_id.as_deref().map(AccountId::new);
        match onboarding
            .onboard(&origin(req), &office, &secret, claimed.as_ref())
            .await
        {
            Ok((account, done)) => AuthorizeResponse::Ok(Json(AuthorizeAck {
                status: match done {
                    Onboarded::Stored => "onboarded",
                    Onboarded::Unchanged => "unchanged",
                }
                .into(),
                account_id: account.to_string(),
                office_id: office.to_string(),
            })),
            Err(e) => {
                tracing::warn!(office = %office, error = %e, "sikka onboarding refused or failed");
                match e {
                    OnboardError::Unmapped(_) | OnboardError::Refused(_) => {
                        AuthorizeResponse::Unprocessable(unprocessable(e.to_string()))
                    }
                    OnboardError::Upstream(_) => AuthorizeResponse::BadGateway(ProblemJson::new(
                        poem::http::StatusCode::BAD_GATEWAY,
                        "Bad Gateway",
                        e.to_string(),
                    )),
                    OnboardError::NotConfigured
                    | OnboardError::Store(_)
                    | OnboardError::Directory(_)
                    | OnboardError::Audit(_) => {
                        AuthorizeResponse::Unavailable(unavailable(e.to_string()))
                    }
                }
            }
        }
    }

    /// A practice's data changed (Sikka data webhook)
    ///
    /// Requires the `callback-key` header. Events `Data_Refresh`, `appointments`, `patient`,
    /// `transaction`: the practice's cached data is dropped; on `appointments` its pending
    /// writebacks are polled at once. Every authenticated delivery is answered 200.
    #[oai(
        path = "/pms/sikka/webhook/data",
        method = "post",
        operation_id = "sikka_data_webhook"
    )]
    async fn data(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: Checked<DataEvent>,
    ) -> DataResponse {
        if let Err(refused) = callback_key(state, req).await {
            return refused.into();
        }
        let event = body.event.clone().unwrap_or_default();
        let office = match id_text("office_id", body.office_id.as_ref())
            .and_then(|o| id_text("practice_id", body.practice_id.as_ref()).map(|_| o))
        {
            Ok(office) => office.filter(|o| !o.is_empty()),
            Err(problem) => return DataResponse::BadRequest(problem),
        };
        let offices = state.sikka.onboarding.offices();
        let account = match &office {
            Some(office) => offices
                .account_for_sikka_office(&OfficeId::new(office.as_str()))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "practice directory failed on a sikka data webhook");
                    None
                }),
            None => None,
        };
        let Some(account) = account else {
            tracing::info!(event = %event, office = ?office, "sikka data webhook for no practice here: ignored");
            return DataResponse::Ok(Json(DataAck {
                status: "ignored".into(),
            }));
        };
        if let Ok(Some(practice)) = offices.by_account(&account).await {
            practice.pms.refresh().await;
        }
        tracing::info!(event = %event, account = %account, "sikka data webhook: practice refreshed");
        if event.eq_ignore_ascii_case("appointments") {
            let state = Arc::clone(state);
            tokio::spawn(async move {
                let settled = state.receptionist.settle_pending(&account).await;
                tracing::info!(account = %account, settled, "pending writebacks polled on the appointments webhook");
            });
        }
        DataResponse::Ok(Json(DataAck {
            status: "refreshed".into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_authorize_body_never_shows_its_secret_key() {
        let body = AuthorizeBody {
            event: "app.authorized".into(),
            app_id: "app".into(),
            office_id: "D1".into(),
            secret_key: "sk_live_do_not_print".into(),
            practice_name: None,
            practice_id: None,
            pms_type: None,
            account_id: None,
        };
        let shown = format!("{body:?} {body:#?}");
        assert!(!shown.contains("sk_live_do_not_print"), "{shown}");
        assert!(
            shown.contains("D1") && shown.contains("[secret]"),
            "{shown}"
        );
    }
}
