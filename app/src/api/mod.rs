//! The HTTP surface (poem + poem-openapi): the Vapi routes (`vapi/`: a route per tool and the
//! webhook), the Sikka routes (`sikka/`) and health; in front of them the middleware (request id,
//! access log, body limit, Vapi verification) and the one body extractor (`checked.rs`). The only
//! module that knows HTTP. The route types are zero-sized: they reach the application's state
//! through `poem::web::Data<&Arc<AppState>>`, so the OpenAPI document ([`spec`], `openapi.rs`) is
//! built from the code alone — it is served, committed under `openapi/` and turned into Vapi tool
//! definitions.

mod admin;
mod admin_gate;
mod checked;
pub mod connection;
mod health;
mod json;
mod messages;
mod middleware;
mod openapi;
mod practice_health;
mod problem;
pub mod sikka;
mod twilio;
mod vapi;

use std::sync::Arc;

pub use admin::AdminState;

use poem::{Endpoint, EndpointExt, Route, endpoint::make_sync, web::Html};
use poem_openapi::Tags;

use crate::{
    receptionist::Receptionist,
    vapi::{auth::AuthMode, replay::SeenSignatures},
};

#[derive(Tags)]
enum ApiTags {
    /// One operation per tool of the voice receptionist. Each answers a Vapi `tool-calls` message.
    Tools,
    /// Vapi server messages.
    Vapi,
    /// Liveness and readiness.
    Health,
    /// Sikka: practice onboarding, data webhooks and the marketplace handshake.
    Sikka,
    /// For the people who must read the audit trail; a Cognito access token is required.
    Admin,
    /// Twilio: texts patients send back (STOP, START).
    Twilio,
}

/// What every route shares.
pub struct AppState {
    pub receptionist: Arc<Receptionist>,
    /// `None`: no secret configured; the Vapi routes answer 503.
    pub auth: Option<AuthMode>,
    /// Signatures already accepted, so none is accepted twice within its window.
    pub seen_signatures: SeenSignatures,
    /// The practices that sign with their own Vapi secret, and how to check it (the global
    /// mode's settings with the practice's key). Only that secret verifies their calls.
    pub practice_auth: Arc<crate::vapi::practice_auth::PracticeAuth>,
    pub public_base_url: Option<String>,
    /// The Sikka routes' secrets, onboarding and registrations.
    pub sikka: sikka::SikkaHooks,
    /// Connection and body deadlines.
    pub deadlines: connection::Deadlines,
    /// The budget of one Vapi request, shared by its calls in order.
    pub request_budget: std::time::Duration,
    /// The admin routes' token verifier and audit store (`GET /audit/events`).
    pub admin: AdminState,
    /// The practice doctor (`GET /practices/{account_id}/health`).
    pub doctor: Arc<crate::doctor::Doctor>,
}

/// Set on each request by the middleware.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<String>,
    /// The practice whose own Vapi secret verified the request; `None`: the global secret did.
    pub signed_by: Option<crate::pms::AccountId>,
}

/// Every route: the API, `/openapi.json`, and the docs UI at `/docs`. The routes reach `state`
/// through `poem::web::Data`; the middleware stands in front of them all.
pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let document = openapi::document();
    let api = openapi::service();
    // The UI embeds the spec: swap in the completed document.
    let ui = api.swagger_ui_html().replace(&api.spec(), &document);
    // Compiled now rather than on the first request.
    std::sync::LazyLock::force(&checked::VALIDATORS);
    let guarded = state.clone();
    Route::new()
        .at(
            "/openapi.json",
            make_sync(move |_| {
                poem::Response::builder()
                    .content_type("application/json")
                    .body(document.clone())
            }),
        )
        .at("/docs", make_sync(move |_| Html(ui.clone())))
        .nest("/", api)
        .data(state)
        .around(move |next, req| middleware::around(guarded.clone(), next, req))
}

/// The OpenAPI document (for `gateway openapi` and the tool export): made from the code alone.
pub fn spec() -> String {
    openapi::document()
}
