//! The HTTP surface (poem + poem-openapi): the tool routes, the Vapi webhook and health. The only
//! module that knows HTTP. [`openapi_document`] is the spec that is served, committed under
//! `openapi/` and turned into Vapi tool definitions.

pub mod connection;
mod health;
mod json;
mod middleware;
mod openapi;
mod problem;
pub mod sikka;
mod vapi;

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route, endpoint::make_sync, web::Html};
use poem_openapi::{OpenApiService, Tags};

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
    pub practice_auth: Vec<(crate::pms::AccountId, AuthMode)>,
    pub public_base_url: Option<String>,
    /// The Sikka routes' secrets, onboarding and registrations.
    pub sikka: sikka::SikkaHooks,
    /// Connection and body deadlines.
    pub deadlines: connection::Deadlines,
    /// The budget of one Vapi request, shared by its calls in order.
    pub request_budget: std::time::Duration,
}

/// Set on each request by the guard.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<String>,
    /// The practice whose own Vapi secret verified the request; `None`: the global secret did.
    pub signed_by: Option<crate::pms::AccountId>,
}

fn service(
    state: Arc<AppState>,
) -> OpenApiService<
    (
        vapi::tools::ToolsApi,
        vapi::webhook::WebhookApi,
        health::HealthApi,
        sikka::SikkaApi,
    ),
    (),
> {
    OpenApiService::new(
        (
            vapi::tools::ToolsApi {
                state: state.clone(),
            },
            vapi::webhook::WebhookApi {
                state: state.clone(),
            },
            health::HealthApi {
                state: state.clone(),
            },
            sikka::SikkaApi { state },
        ),
        "Practice gateway",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Answers a Vapi voice receptionist's tool calls for a dental practice: availability, \
         bookings, cancellations and patient records through the practice's management system. \
         Every Vapi route requires the configured authentication (HMAC signature over the body, \
         a secret header, or a bearer token) and answers tool calls with HTTP 200 and a result or \
         an error string per call.",
    )
}

/// The OpenAPI document: poem-openapi's, completed by [`openapi::complete`].
pub fn openapi_document(state: Arc<AppState>) -> String {
    let generated = service(state).spec();
    let mut doc: serde_json::Value =
        serde_json::from_str(&generated).expect("poem-openapi emits JSON");
    openapi::complete(&mut doc);
    sikka::document(&mut doc);
    serde_json::to_string_pretty(&doc).expect("serialisable") + "\n"
}

/// Every route: the API, `/openapi.json`, and the docs UI at `/docs`.
pub fn routes(state: Arc<AppState>) -> impl Endpoint {
    let document = openapi_document(state.clone());
    let api = service(state.clone());
    // The UI embeds the spec: swap in the document with its security schemes.
    let ui = api.swagger_ui_html().replace(&api.spec(), &document);
    let validators: Arc<openapi::Validators> = Arc::new(openapi::Validators::new(
        &serde_json::from_str(&document).expect("the document is JSON"),
    ));
    let guarded_state = state;
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
        .data(validators)
        .around(move |next, req| middleware::around(guarded_state.clone(), next, req))
}

/// The OpenAPI document without a running gateway (for `gateway openapi` and the tool export).
pub fn spec() -> String {
    struct NoAudit;

    #[async_trait::async_trait]
    impl crate::audit::AuditSink for NoAudit {
        async fn record(
            &self,
            _: crate::audit::AuditEvent,
        ) -> Result<crate::audit::AuditReceipt, crate::audit::AuditError> {
            Err(crate::audit::AuditError::Closed)
        }

        async fn close(&self) {}
    }

    let options = crate::practices::LocalOptions {
        write_delay: std::time::Duration::ZERO,
        extra_patients: Vec::new(),
        sikka: None,
        credentials: Arc::new(crate::practices::MemoryCredentials::default()),
        clock: crate::clock::Clock::system(),
        schedule: None,
    };
    let directory = Arc::new(
        crate::practices::LocalDirectory::load(None, &options)
            .expect("the embedded demo practice loads"),
    );
    let sikka = sikka::SikkaHooks {
        callback_key: None,
        marketplace_secret: None,
        onboarding: Arc::new(crate::practices::onboarding::Onboarding::new(
            None,
            options.credentials.clone(),
            directory.clone(),
            Arc::new(NoAudit),
        )),
        registrations: Arc::new(crate::practices::registrations::RegistrationFile::new(
            "sikka-registrations.json",
        )),
    };
    let receptionist = Arc::new(Receptionist::new(
        directory,
        Arc::new(NoAudit),
        Arc::new(crate::receptionist::MemoryLedger::default()),
        Default::default(),
    ));
    openapi_document(Arc::new(AppState {
        receptionist,
        auth: None,
        seen_signatures: SeenSignatures::new(std::time::Duration::from_secs(300)),
        practice_auth: Vec::new(),
        public_base_url: None,
        sikka,
        deadlines: Default::default(),
        request_budget: crate::config::DEFAULT_REQUEST_BUDGET,
    }))
}
