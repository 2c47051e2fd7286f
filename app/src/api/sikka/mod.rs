//! The Sikka routes under `/pms/sikka/`: the `app.authorized` webhook (onboard a practice), the
//! data webhooks (refresh a practice's caches; settle its pending writebacks), and the
//! marketplace's purchase/cancel registration handshake.
//!
//! Authentication, compared in constant time: Sikka's webhooks carry the `callback-key` header
//! agreed in Sikka's portal (`SIKKA_CALLBACK_KEY`); the marketplace documents no signature, so its
//! notifications must carry `x-marketplace-secret` (`SIKKA_MARKETPLACE_SECRET`). A route whose
//! secret is not configured answers 503, never opens. A missing or wrong secret is audited as
//! denied and answered 401. Data webhooks answer 200 to everything authenticated (Sikka disables
//! a webhook after five failed deliveries).

use std::sync::Arc;

use poem::{Request, RequestBody};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    payload::{Json, ParsePayload, Payload},
    registry::{MetaSchemaRef, Registry},
    types::{ParseFromJSON, Type},
};

use super::{ApiTags, AppState, RequestMeta, openapi::Validators, problem::ProblemJson};
use crate::audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome};
use crate::pms::{AccountId, OfficeId};
use crate::practices::Secret;
use crate::practices::onboarding::{OnboardError, Onboarded, Onboarding, Origin};
use crate::practices::registrations::{Registration, RegistrationFile, RegistrationState};
use crate::secret::same as same_secret;

/// The header Sikka's webhooks carry their agreed secret in.
pub const CALLBACK_KEY_HEADER: &str = "callback-key";
/// The header the marketplace notifications must carry `SIKKA_MARKETPLACE_SECRET` in.
pub const MARKETPLACE_SECRET_HEADER: &str = "x-marketplace-secret";

/// What the Sikka routes need besides the shared state.
pub struct SikkaHooks {
    pub callback_key: Option<Secret>,
    pub marketplace_secret: Option<Secret>,
    pub onboarding: Arc<Onboarding>,
    pub registrations: Arc<RegistrationFile>,
}

/// An id Sikka sends as a number or a string (`1`, `"1-0"`, `"D36225"`): its text, `None` when
/// absent or null. Anything else is refused (400). The documented schema is set in [`document`].
fn id_text(field: &str, value: Option<&serde_json::Value>) -> Result<Option<String>, ProblemJson> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(t)) => Ok(Some(t.trim().to_owned())),
        Some(serde_json::Value::Number(n)) => {
            Ok(Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (_, Some(u), _) => u.to_string(),
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                _ => n.to_string(),
            }))
        }
        Some(_) => Err(ProblemJson::bad_request(format!(
            "{field} must be a string or a number."
        ))),
    }
}

/// A JSON body checked against its documented schema (the document's, so what the spec accepts
/// and what the route accepts are the same; a null field counts as absent), then parsed.
pub struct Checked<T>(pub T);

impl<T> std::ops::Deref for Checked<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Type + ParseFromJSON> Payload for Checked<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Type + ParseFromJSON> ParsePayload for Checked<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let refuse =
            |detail: String| poem::Error::from_string(detail, poem::http::StatusCode::BAD_REQUEST);
        let bytes = body
            .take()?
            .into_bytes()
            .await
            .map_err(|e| refuse(format!("The request body could not be read: {e}")))?;
        let mut value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| refuse(format!("The request body is not JSON: {e}")))?;
        if let Some(fields) = value.as_object_mut() {
            fields.retain(|_, v| !v.is_null());
        }
        if let Some(validators) = request.data::<Arc<Validators>>() {
            validators.check(&T::name(), &value).map_err(refuse)?;
        }
        T::parse_from_json(Some(value))
            .map(Self)
            .map_err(|e| refuse(format!("The request body is invalid: {}", e.into_message())))
    }
}

super::vapi::body_extractor!(Checked<T>, T: Type + ParseFromJSON);

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

/// A marketplace registration notification (purchase or cancel). Unknown fields are ignored.
#[derive(Debug, Object)]
pub struct MarketplaceNotice {
    #[oai(rename = "Source", validator(max_length = 64))]
    pub source: Option<String>,
    /// Sikka's id for the practice (its office id).
    #[oai(rename = "MasterCustomerID")]
    pub master_customer_id: Option<serde_json::Value>,
    #[oai(rename = "SPUInstallationKey", validator(max_length = 512))]
    pub spu_installation_key: Option<String>,
    #[oai(rename = "PartnerRegistrationID")]
    pub partner_registration_id: Option<serde_json::Value>,
    #[oai(rename = "PracticeName", validator(max_length = 256))]
    pub practice_name: Option<String>,
    #[oai(rename = "EmailAddress", validator(max_length = 256))]
    pub email_address: Option<String>,
    #[oai(rename = "FirstName", validator(max_length = 128))]
    pub first_name: Option<String>,
    #[oai(rename = "LastName", validator(max_length = 128))]
    pub last_name: Option<String>,
    #[oai(rename = "Status", validator(max_length = 64))]
    pub status: Option<String>,
    #[oai(rename = "PurchaseDate", validator(max_length = 64))]
    pub purchase_date: Option<String>,
    #[oai(rename = "CancelDate", validator(max_length = 64))]
    pub cancel_date: Option<String>,
    #[oai(rename = "Order#")]
    pub order: Option<serde_json::Value>,
    #[oai(rename = "PartnerServiceName", validator(max_length = 256))]
    pub partner_service_name: Option<String>,
}

/// The acknowledgement of a marketplace notification.
#[derive(Debug, Object)]
pub struct MarketplaceAck {
    /// `active` or `cancelled`.
    pub status: String,
    /// The registration's key (`PartnerRegistrationID`, else `MasterCustomerID`).
    pub registration: String,
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_marketplace")]
pub enum MarketplaceResponse {
    /// Recorded.
    #[oai(status = 200)]
    Ok(Json<MarketplaceAck>),
    /// Not a JSON object of the documented shape.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// The `x-marketplace-secret` header is missing or wrong.
    #[oai(status = 401)]
    Unauthorized,
    /// Neither `PartnerRegistrationID` nor `MasterCustomerID` is given (or both are blank).
    #[oai(status = 422)]
    Unprocessable(ProblemJson),
    /// `SIKKA_MARKETPLACE_SECRET` is not configured, or the registrations file or audit trail is
    /// unavailable.
    #[oai(status = 503)]
    Unavailable(ProblemJson),
}

fn bad_marketplace(e: poem::Error) -> MarketplaceResponse {
    MarketplaceResponse::BadRequest(ProblemJson::bad_request(e.to_string()))
}

pub struct SikkaApi {
    pub state: Arc<AppState>,
}

fn unavailable(detail: impl Into<String>) -> ProblemJson {
    ProblemJson::new(
        poem::http::StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        detail,
    )
}

fn unprocessable(detail: impl Into<String>) -> ProblemJson {
    ProblemJson::new(
        poem::http::StatusCode::UNPROCESSABLE_ENTITY,
        "Unprocessable Content",
        detail,
    )
}

fn origin(req: &Request) -> Origin {
    let meta = req.extensions().get::<RequestMeta>();
    Origin {
        resource: req.uri().path().to_owned(),
        actor: "sikka".into(),
        request_id: meta.map(|m| m.request_id.clone()),
        source_ip: meta.and_then(|m| m.source_ip.clone()),
    }
}

enum Check {
    Pass,
    NotConfigured(&'static str),
    Denied,
}

#[OpenApi(tag = "ApiTags::Sikka")]
impl SikkaApi {
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
    async fn authorize(&self, req: &Request, body: Checked<AuthorizeBody>) -> AuthorizeResponse {
        match self
            .check(req, CALLBACK_KEY_HEADER, self.hooks().callback_key.as_ref())
            .await
        {
            Check::Pass => {}
            Check::NotConfigured(what) => return AuthorizeResponse::Unavailable(unavailable(what)),
            Check::Denied => return AuthorizeResponse::Unauthorized,
        }
        let onboarding = &self.hooks().onboarding;
        let Some(app_id) = onboarding.app_id() else {
            return AuthorizeResponse::Unavailable(unavailable(
                "The Sikka application is not configured (set SIKKA_APP_ID and SIKKA_APP_KEY).",
            ));
        };
        if !same_secret(body.app_id.as_bytes(), app_id.as_bytes()) {
            self.deny(req, "app_id is not this gateway's Sikka application")
                .await;
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
    async fn data(&self, req: &Request, body: Checked<DataEvent>) -> DataResponse {
        match self
            .check(req, CALLBACK_KEY_HEADER, self.hooks().callback_key.as_ref())
            .await
        {
            Check::Pass => {}
            Check::NotConfigured(what) => return DataResponse::Unavailable(unavailable(what)),
            Check::Denied => return DataResponse::Unauthorized,
        }
        let event = body.event.clone().unwrap_or_default();
        let office = match id_text("office_id", body.office_id.as_ref())
            .and_then(|o| id_text("practice_id", body.practice_id.as_ref()).map(|_| o))
        {
            Ok(office) => office.filter(|o| !o.is_empty()),
            Err(problem) => return DataResponse::BadRequest(problem),
        };
        let offices = self.hooks().onboarding.offices();
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
            let state = self.state.clone();
            tokio::spawn(async move {
                let settled = state.receptionist.settle_pending(&account).await;
                tracing::info!(account = %account, settled, "pending writebacks polled on the appointments webhook");
            });
        }
        DataResponse::Ok(Json(DataAck {
            status: "refreshed".into(),
        }))
    }

    /// The marketplace registered a purchase
    ///
    /// Requires the `x-marketplace-secret` header (`SIKKA_MARKETPLACE_SECRET`). The registration
    /// is recorded (a repeat refreshes it) and audited.
    #[oai(
        path = "/pms/sikka/purchase",
        method = "post",
        operation_id = "sikka_purchase"
    )]
    async fn purchase(
        &self,
        req: &Request,
        body: Checked<MarketplaceNotice>,
    ) -> MarketplaceResponse {
        self.marketplace(req, body.0, false).await
    }

    /// The marketplace registered a cancellation
    ///
    /// Requires the `x-marketplace-secret` header. The registration is marked cancelled (an
    /// unknown one is recorded as cancelled) and audited. Stored credentials are kept: Sikka's
    /// own revocation (`API2007`) is what the reconciler acts on.
    #[oai(
        path = "/pms/sikka/cancel",
        method = "post",
        operation_id = "sikka_cancel"
    )]
    async fn cancel(&self, req: &Request, body: Checked<MarketplaceNotice>) -> MarketplaceResponse {
        self.marketplace(req, body.0, true).await
    }
}

impl SikkaApi {
    fn hooks(&self) -> &SikkaHooks {
        &self.state.sikka
    }

    async fn check(&self, req: &Request, header: &'static str, expected: Option<&Secret>) -> Check {
        let Some(expected) = expected else {
            return Check::NotConfigured(if header == CALLBACK_KEY_HEADER {
                "No Sikka callback key is configured (set SIKKA_CALLBACK_KEY), so Sikka webhooks are refused."
            } else {
                "No marketplace secret is configured (set SIKKA_MARKETPLACE_SECRET), so marketplace notifications are refused."
            });
        };
        match req.headers().get(header) {
            Some(given) if expected.matches(given.as_bytes()) => Check::Pass,
            Some(_) => {
                self.deny(req, &format!("{header} does not match")).await;
                Check::Denied
            }
            None => {
                self.deny(req, &format!("{header} missing")).await;
                Check::Denied
            }
        }
    }

    async fn deny(&self, req: &Request, reason: &str) {
        let origin = origin(req);
        tracing::warn!(path = %origin.resource, reason, "sikka request denied");
        let event = AuditEvent {
            action: AuditAction::Authenticate,
            outcome: AuditOutcome::Denied,
            resource: origin.resource,
            account_id: None,
            actor: AuditActor {
                kind: "sikka".into(),
                ..AuditActor::default()
            },
            patient_ids: Vec::new(),
            request_id: origin.request_id,
            source_ip: origin.source_ip,
            reason: Some(reason.to_owned()),
        };
        if let Err(e) = self.state.receptionist.audit().record(event).await {
            tracing::error!(error = %e, "audit entry for a denied sikka request failed");
        }
    }

    async fn marketplace(
        &self,
        req: &Request,
        notice: MarketplaceNotice,
        cancel: bool,
    ) -> MarketplaceResponse {
        let hooks = self.hooks();
        match self
            .check(
                req,
                MARKETPLACE_SECRET_HEADER,
                hooks.marketplace_secret.as_ref(),
            )
            .await
        {
            Check::Pass => {}
            Check::NotConfigured(what) => {
                return MarketplaceResponse::Unavailable(unavailable(what));
            }
            Check::Denied => return MarketplaceResponse::Unauthorized,
        }
        let ids = (
            id_text("MasterCustomerID", notice.master_customer_id.as_ref()),
            id_text(
                "PartnerRegistrationID",
                notice.partner_registration_id.as_ref(),
            ),
            id_text("Order#", notice.order.as_ref()),
        );
        let (master, partner, order) = match ids {
            (Ok(m), Ok(p), Ok(o)) => (m, p, o),
            (Err(problem), ..) | (_, Err(problem), _) | (.., Err(problem)) => {
                return MarketplaceResponse::BadRequest(problem);
            }
        };
        let registration = Registration {
            source: notice.source,
            master_customer_id: master,
            partner_registration_id: partner,
            spu_installation_key: notice.spu_installation_key,
            practice_name: notice.practice_name,
            email_address: notice.email_address,
            first_name: notice.first_name,
            last_name: notice.last_name,
            marketplace_status: notice.status,
            purchase_date: notice.purchase_date,
            cancel_date: notice.cancel_date,
            order,
            partner_service_name: notice.partner_service_name,
            other: serde_json::Map::new(),
        };
        let Some(key) = registration.key() else {
            return MarketplaceResponse::Unprocessable(unprocessable(
                "A registration needs a PartnerRegistrationID or a MasterCustomerID.",
            ));
        };
        let office = registration
            .master_customer_id
            .clone()
            .filter(|m| !m.is_empty())
            .map(OfficeId::new);
        let account = match &office {
            Some(office) => hooks
                .onboarding
                .offices()
                .account_for_sikka_office(office)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let origin = origin(req);
        let verb = if cancel { "cancelled" } else { "purchased" };
        let stored = if cancel {
            hooks.registrations.cancelled(&key, registration).await
        } else {
            hooks.registrations.purchased(&key, registration).await
        };
        let (outcome, result) = match &stored {
            Ok(_) => (AuditOutcome::Success, verb.to_owned()),
            Err(e) => (
                AuditOutcome::Failed,
                format!("{verb}, but recording it failed: {e}"),
            ),
        };
        let event = AuditEvent {
            action: AuditAction::CredentialChange,
            outcome,
            resource: origin.resource,
            account_id: account,
            actor: AuditActor {
                kind: "sikka-marketplace".into(),
                ..AuditActor::default()
            },
            patient_ids: Vec::new(),
            request_id: origin.request_id,
            source_ip: origin.source_ip,
            reason: Some(format!(
                "sikka marketplace registration {key}{}: {result}",
                office
                    .as_ref()
                    .map(|o| format!(" (office {o})"))
                    .unwrap_or_default()
            )),
        };
        let audited = self.state.receptionist.audit().record(event).await;
        match (stored, audited) {
            (Ok(record), Ok(_)) => MarketplaceResponse::Ok(Json(MarketplaceAck {
                status: match record.state {
                    RegistrationState::Active => "active",
                    RegistrationState::Cancelled => "cancelled",
                }
                .into(),
                registration: key,
            })),
            (Err(e), _) => {
                tracing::error!(error = %e, "marketplace registration could not be recorded");
                MarketplaceResponse::Unavailable(unavailable(
                    "The registration could not be recorded; retry later.",
                ))
            }
            (Ok(_), Err(e)) => {
                tracing::error!(error = %e, "audit entry for a marketplace registration failed");
                MarketplaceResponse::Unavailable(unavailable(
                    "The registration could not be audited; retry later.",
                ))
            }
        }
    }
}

/// Completes the document for the Sikka routes: their security schemes, and the id fields'
/// schemas (a string or a number; poem-openapi only knows them as any JSON value).
pub fn document(doc: &mut serde_json::Value) {
    // Ids are a string or a number; optional fields may be null (read as absent).
    let id = serde_json::json!({"anyOf": [{"type": "string"}, {"type": "number"}]});
    let ids: &[(&str, &[&str])] = &[
        ("AuthorizeBody", &["practice_id"]),
        ("DataEvent", &["office_id", "practice_id"]),
        (
            "MarketplaceNotice",
            &["MasterCustomerID", "PartnerRegistrationID", "Order#"],
        ),
    ];
    for (name, id_fields) in ids {
        let schema = &mut doc["components"]["schemas"][*name];
        let required: Vec<serde_json::Value> =
            schema["required"].as_array().cloned().unwrap_or_default();
        if let Some(props) = schema["properties"].as_object_mut() {
            for (field, prop) in props.iter_mut() {
                if id_fields.contains(&field.as_str()) {
                    let description = prop.get("description").cloned();
                    *prop = id.clone();
                    if let Some(text) = description {
                        prop["description"] = text;
                    }
                }
                if !required.contains(&serde_json::json!(field)) {
                    prop["nullable"] = serde_json::json!(true);
                }
            }
        }
    }
    // A registration is keyed by one of its two ids: at least one must be given, not blank.
    let key =
        serde_json::json!({"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "number"}]});
    doc["components"]["schemas"]["MarketplaceNotice"]["anyOf"] = serde_json::json!([
        {"required": ["MasterCustomerID"], "properties": {"MasterCustomerID": key.clone()}},
        {"required": ["PartnerRegistrationID"], "properties": {"PartnerRegistrationID": key}}
    ]);
    let schemes = &mut doc["components"]["securitySchemes"];
    schemes["sikkaCallbackKey"] = serde_json::json!({"type": "apiKey", "in": "header", "name": CALLBACK_KEY_HEADER,
        "description": "The secret agreed in Sikka's portal for its webhooks (SIKKA_CALLBACK_KEY)."});
    schemes["sikkaMarketplaceSecret"] = serde_json::json!({"type": "apiKey", "in": "header", "name": MARKETPLACE_SECRET_HEADER,
        "description": "The secret the marketplace notifications are configured to send (SIKKA_MARKETPLACE_SECRET)."});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let scheme = if path.starts_with("/pms/sikka/webhook/") {
                "sikkaCallbackKey"
            } else if path.starts_with("/pms/sikka/") {
                "sikkaMarketplaceSecret"
            } else {
                continue;
            };
            if let Some(op) = item.get_mut("post") {
                op["security"] = serde_json::json!([{ scheme: [] }]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"", b"abc"));
    }

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
