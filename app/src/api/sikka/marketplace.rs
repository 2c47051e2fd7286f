//! `POST /pms/sikka/purchase` and `POST /pms/sikka/cancel`: the marketplace's registration
//! handshake. Both require the `x-marketplace-secret` header; the notification is recorded and
//! audited by `practices::marketplace`.

use std::sync::Arc;

use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use super::{
    auth::{marketplace_secret, refusals},
    id_text, origin, unavailable, unprocessable,
};
use crate::api::{ApiTags, AppState, checked::Checked, problem::ProblemJson};
use crate::practices::marketplace::{self, MarketplaceError, Notice};
use crate::practices::registrations::{Registration, RegistrationState};

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

refusals!(MarketplaceResponse);

pub struct MarketplaceApi;

#[OpenApi(tag = "ApiTags::Sikka")]
impl MarketplaceApi {
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
        Data(state): Data<&Arc<AppState>>,
        body: Checked<MarketplaceNotice>,
    ) -> MarketplaceResponse {
        notified(state, req, body.0, Notice::Purchase).await
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
    async fn cancel(
        &self,
        req: &Request,
        Data(state): Data<&Arc<AppState>>,
        body: Checked<MarketplaceNotice>,
    ) -> MarketplaceResponse {
        notified(state, req, body.0, Notice::Cancel).await
    }
}

/// Authenticates a notification, reads its ids, and has it recorded.
async fn notified(
    state: &AppState,
    req: &Request,
    notice: MarketplaceNotice,
    kind: Notice,
) -> MarketplaceResponse {
    let hooks = &state.sikka;
    if let Err(refused) = marketplace_secret(state, req).await {
        return refused.into();
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
    let recorded = marketplace::record(
        &hooks.registrations,
        hooks.onboarding.offices().as_ref(),
        state.receptionist.audit().as_ref(),
        &origin(req),
        registration,
        kind,
    )
    .await;
    match recorded {
        Ok((key, registration_state)) => MarketplaceResponse::Ok(Json(MarketplaceAck {
            status: match registration_state {
                RegistrationState::Active => "active",
                RegistrationState::Cancelled => "cancelled",
            }
            .into(),
            registration: key,
        })),
        Err(e @ MarketplaceError::NoKey) => {
            MarketplaceResponse::Unprocessable(unprocessable(e.to_string()))
        }
        Err(MarketplaceError::Store(e)) => {
            tracing::error!(error = %e, "marketplace registration could not be recorded");
            MarketplaceResponse::Unavailable(unavailable(
                "The registration could not be recorded; retry later.",
            ))
        }
        Err(MarketplaceError::Audit(e)) => {
            tracing::error!(error = %e, "audit entry for a marketplace registration failed");
            MarketplaceResponse::Unavailable(unavailable(
                "The registration could not be audited; retry later.",
            ))
        }
    }
}
