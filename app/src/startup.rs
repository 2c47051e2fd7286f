//! Wiring: from settings to a running server. Builds the practice directory, the audit spool,
//! the receptionist and the routes; serves until SIGTERM or SIGINT, then stops accepting,
//! finishes in-flight calls and flushes the audit spool.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use poem::{
    Server,
    listener::{Acceptor, Listener, TcpListener},
};

use crate::{
    api::{AppState, connection::WithDeadlines, routes, sikka::SikkaHooks},
    audit::{
        AuditSink,
        denials::Denials,
        shipper::Shipper,
        spool::{Spool, SpoolOptions},
    },
    config::{SecretSource, Settings},
    pms::sandbox::SeedPatient,
    pms::sikka::{SikkaClient, SikkaConfig},
    practices::{
        CredentialStore, LocalCredentialFile, LocalDirectory, LocalOptions,
        onboarding::{Onboarding, SikkaOffices},
        registrations::RegistrationFile,
    },
    receptionist::Receptionist,
    secret::Secret,
    state::StateStores,
    vapi::{auth::AuthMode, practice_auth::PracticeAuth, replay::SeenSignatures},
};

/// How long in-flight calls get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);
/// How long the aws profile then has to ship the rest of the audit spool. With the grace, inside
/// the 30 s an ECS task gets by default between SIGTERM and SIGKILL.
pub const AUDIT_DRAIN: Duration = Duration::from_secs(10);

pub struct Application {
    pub state: Arc<AppState>,
    pub audit: Arc<Spool>,
    pub settings: Settings,
    /// Tasks that keep the profile's stores fresh, stopped at shutdown.
    pub background: Vec<tokio::task::JoinHandle<()>>,
    /// The aws profile's audit shipper, drained at shutdown.
    pub shipper: Option<Arc<Shipper>>,
}

/// What differs between the profiles: where practices, their credentials and their own Vapi
/// secrets come from. Everything else is built the same way from it.
pub struct Stores {
    pub directory: Arc<dyn SikkaOffices>,
    pub credentials: Arc<dyn CredentialStore>,
    /// Practices whose assistants sign with their own Vapi secret.
    pub practice_auth: Arc<PracticeAuth>,
    /// Where `GET /audit/events` reads the trail: the spool's files locally, CloudWatch Logs
    /// on the `aws` profile.
    pub audit_query: Arc<dyn crate::admin::AuditQuery>,
    /// What the receptionist remembers: in this process locally, in the shared table on `aws`.
    pub state: StateStores,
}

/// The Sikka client, when the application's credentials are set.
pub fn sikka_client(settings: &Settings) -> anyhow::Result<Option<SikkaClient>> {
    let (Some(id), Some(key)) = (&settings.sikka.app_id, &settings.sikka.app_key) else {
        return Ok(None);
    };
    let mut config = SikkaConfig::new(id.clone(), Secret::new(key.clone()));
    config.base_url = settings.sikka.base_url.clone();
    config.requests_per_minute = settings.sikka.requests_per_minute;
    config.clock = settings.clock;
    config.call_timeout = settings
        .receptionist
        .tool_budget
        .saturating_sub(crate::config::SIKKA_CALL_MARGIN);
    Ok(Some(
        SikkaClient::new(config).context("building the Sikka client")?,
    ))
}

/// The options every practice's system is built with (the sandbox's files read here).
pub fn practice_options(
    settings: &Settings,
    sikka: Option<SikkaClient>,
    credentials: Arc<dyn CredentialStore>,
    leases: Arc<dyn crate::state::Leases>,
) -> anyhow::Result<LocalOptions> {
    let extra: Vec<SeedPatient> = match &settings.sandbox.extra_patients {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("SANDBOX_EXTRA_PATIENTS: cannot read {}", path.display())
            })?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "SANDBOX_EXTRA_PATIENTS: {} is not a JSON list of patients",
                    path.display()
                )
            })?
        }
        None => Vec::new(),
    };
    Ok(LocalOptions {
        write_delay: settings.sandbox.write_delay,
        extra_patients: extra,
        sikka,
        credentials,
        leases,
        clock: settings.clock,
        schedule: match &settings.sandbox.schedule {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("SANDBOX_SCHEDULE: cannot read {}", path.display()))?;
                Some(crate::pms::sandbox::parse_schedule(&text).map_err(|why| {
                    anyhow::anyhow!(
                        "SANDBOX_SCHEDULE: {} is not a weekly schedule: {why}",
                        path.display()
                    )
                })?)
            }
            None => None,
        },
    })
}

/// The local profile's stores: the practices file (or the demo practice), credentials in a
/// local JSON file.
fn local_stores(settings: &Settings, sikka: Option<SikkaClient>) -> anyhow::Result<Stores> {
    let credentials: Arc<dyn CredentialStore> = Arc::new(LocalCredentialFile::new(
        settings.sikka.credentials_file.clone(),
    ));
    let state = StateStores::memory(settings.clock);
    let options = practice_options(settings, sikka, credentials.clone(), state.leases.clone())?;
    let directory = Arc::new(
        LocalDirectory::load(settings.sandbox.practices_file.as_deref(), &options)
            .context("loading the local practices")?,
    );
    Ok(Stores {
        audit_query: Arc::new(crate::admin::SpoolQuery::new(settings.audit.dir.clone())),
        practice_auth: Arc::new(PracticeAuth::new(
            settings.vapi.auth.as_ref(),
            directory.vapi_secrets(),
        )),
        directory,
        credentials,
        state,
    })
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let sikka = sikka_client(&settings)?;
        let spool_path = settings.audit.dir.join("audit.jsonl");
        let audit = Arc::new(
            Spool::open(spool_path.clone(), spool_options(&settings))
                .with_context(|| format!("opening the audit spool {}", spool_path.display()))?,
        );
        let mut background = Vec::new();
        let (stores, durable, shipper) = match &settings.aws {
            None => (
                local_stores(&settings, sikka.clone())?,
                audit.clone() as Arc<dyn AuditSink>,
                None,
            ),
            Some(aws) => {
                let sdk = crate::aws::sdk_config().await;
                let shipped = crate::aws::profile::audit(&settings, aws, &sdk, &audit)?;
                let stores =
                    crate::aws::profile::stores(&settings, aws, &sdk, sikka.clone()).await?;
                background.extend(stores.refreshers);
                (stores.stores, shipped.sink, Some(shipped.shipper))
            }
        };
        // Floods of denied requests are aggregated before they reach the spool.
        let sink: Arc<dyn AuditSink> = Denials::new(durable);
        let mut app = Self::assemble(settings, stores, sikka, audit, sink);
        app.background = background;
        app.shipper = shipper;
        Ok(app)
    }

    /// The application from its stores and audit sink, alike on every profile.
    fn assemble(
        settings: Settings,
        stores: Stores,
        sikka: Option<SikkaClient>,
        audit: Arc<Spool>,
        sink: Arc<dyn AuditSink>,
    ) -> Self {
        let doctor = Arc::new(crate::doctor::Doctor {
            directory: stores.directory.clone(),
            credentials: stores.credentials.clone(),
            ledger: stores.state.ledger.clone(),
            clock: settings.clock,
            pending_warn: settings.receptionist.doctor_pending_warn,
        });
        let onboarding = Arc::new(Onboarding::new(
            sikka,
            stores.credentials,
            stores.directory.clone(),
            sink.clone(),
        ));
        let receptionist = Arc::new(Receptionist::new(
            stores.directory,
            sink,
            stores.state.clone(),
            settings.receptionist.clone(),
        ));
        receptionist.settle_in_background();
        let state = Arc::new(AppState {
            receptionist,
            auth: settings.vapi.auth.clone(),
            seen_signatures: SeenSignatures::new(
                settings
                    .vapi
                    .auth
                    .as_ref()
                    .map_or(std::time::Duration::from_secs(300), AuthMode::max_skew),
            )
            .shared(stores.state.seen.clone()),
            practice_auth: stores.practice_auth,
            public_base_url: settings.server.public_base_url.clone(),
            sikka: SikkaHooks {
                callback_key: settings.sikka.callback_key.clone(),
                marketplace_secret: settings.sikka.marketplace_secret.clone(),
                onboarding,
                registrations: Arc::new(
                    RegistrationFile::new(settings.sikka.registrations_file.clone())
                        .with_clock(settings.clock),
                ),
            },
            deadlines: settings.server.deadlines,
            request_budget: settings.server.request_budget,
            admin: crate::api::AdminState::new(
                settings.cognito.clone(),
                settings.clock,
                Some(stores.audit_query),
            ),
            doctor,
        });
        Self {
            state,
            audit,
            settings,
            background: Vec::new(),
            shipper: None,
        }
    }

    pub async fn serve(self) -> anyhow::Result<()> {
        let addr = SocketAddr::new(self.settings.server.host, self.settings.server.port);
        let listener = TcpListener::bind(addr);
        let acceptor = listener
            .into_acceptor()
            .await
            .with_context(|| format!("cannot listen on {addr} (set HOST and PORT)"))?;
        let local = acceptor
            .local_addr()
            .into_iter()
            .next()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(addr);
        let stop = shutdown_signal();
        self.banner(local);
        // The Sikka reconciler: onboards authorized practices, marks withdrawn ones revoked.
        let reconciler = self.settings.sikka.reconcile.and_then(|every| {
            let task = self.state.sikka.onboarding.spawn_reconciler(every);
            if task.is_some() {
                tracing::info!(every_seconds = every.as_secs(), "sikka reconciler started");
            }
            task
        });
        // On the aws profile, metrics as EMF lines on stdout (the log driver ships them).
        let reporter = self.settings.aws.as_ref().map(|aws| {
            crate::metrics::Reporter::spawn(
                aws.environment().to_owned(),
                aws.metrics_interval,
                self.settings.clock,
                Arc::new(std::sync::Mutex::new(std::io::stdout())),
            )
        });
        let app = routes(self.state.clone());
        let deadlines = self.settings.server.deadlines;
        Server::new_with_acceptor(WithDeadlines::new(acceptor, deadlines))
            .idle_timeout(deadlines.idle)
            .run_with_graceful_shutdown(app, stop, Some(SHUTDOWN_GRACE))
            .await
            .context("server failed")?;
        if let Some(task) = reconciler {
            task.abort();
        }
        for task in &self.background {
            task.abort();
        }
        tracing::info!("stopped accepting; flushing the audit spool");
        // Through the aggregator, which writes its pending counts first.
        self.state.receptionist.audit().close().await;
        if let Some(shipper) = &self.shipper {
            let deadline = tokio::time::Instant::now() + AUDIT_DRAIN;
            match shipper.drain(deadline).await {
                Ok(seq) => tracing::info!(shipped_through = seq, "audit trail shipped"),
                Err(left) => tracing::error!(
                    shipped_through = left.shipped,
                    durable_through = left.target,
                    "the audit trail was not all shipped before the stop deadline; the rest stays in the spool and ships at the next start on this storage"
                ),
            }
            shipper.shutdown().await;
        }
        if let Some(reporter) = reporter {
            reporter.stop().await;
        }
        tracing::info!(
            entries = self.audit.stats().entries,
            "audit spool flushed; bye"
        );
        Ok(())
    }

    fn banner(&self, addr: SocketAddr) {
        let s = &self.settings;
        let base = format!("http://{addr}");
        let secret = match (&s.vapi.secret_source, &s.vapi.auth) {
            (SecretSource::Generated, Some(_)) => format!(
                "generated for this run (set VAPI_WEBHOOK_SECRET to choose one):\n    export VAPI_WEBHOOK_SECRET={}",
                s.vapi.generated_secret.as_deref().unwrap_or_default()
            ),
            (SecretSource::Environment, Some(mode)) => {
                format!("from VAPI_WEBHOOK_SECRET ({} mode)", mode.describe())
            }
            _ => "NONE: VAPI_WEBHOOK_SECRET is empty, so every Vapi route answers 503".into(),
        };
        if let Some(AuthMode::Hmac(config)) = &s.vapi.auth
            && !config.is_timed()
        {
            tracing::warn!(
                payload_format = %config.payload_format,
                "VAPI_ALLOW_UNTIMED_SIGNATURES=true: signatures carry no time, so a captured request stays valid; only an identical replay within the replay window is refused"
            );
        }
        tracing::info!(address = %base, "gateway ready");
        // The banner is for the person who ran `cargo run`; it goes to stderr, not the JSON log.
        eprintln!(
            "\nPractice gateway ({profile:?} profile) listening on {base}\n  API docs:      {base}/docs  (spec: {base}/openapi.json)\n  Vapi secret:   {secret}\n  Audit spool:   {audit}\n  Try a signed tool call:\n    body='{{\"message\":{{\"type\":\"tool-calls\",\"toolCallList\":[{{\"id\":\"call_1\",\"function\":{{\"name\":\"list_providers\",\"arguments\":{{}}}}}}],\"call\":{{\"phoneNumberId\":\"pn_demo\"}},\"assistant\":{{\"metadata\":{{\"accountId\":\"acct_demo\"}}}}}}}}'\n    ts=$(date +%s); sig=$(printf '%s.%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac \"$VAPI_WEBHOOK_SECRET\" -hex | sed 's/^.* //')\n    curl -s {base}/vapi/tools/list_providers -H 'content-type: application/json' -H \"x-timestamp: $ts\" -H \"x-signature: $sig\" -d \"$body\"\n",
            profile = s.profile,
            audit = s.audit.dir.join("audit.jsonl").display(),
        );
    }
}

fn spool_options(settings: &Settings) -> SpoolOptions {
    let ahead = settings.audit.prealloc_mib << 20;
    SpoolOptions {
        fsync: settings.audit.fsync,
        prealloc_ahead: ahead,
        prealloc_step: (ahead / 4).clamp(1 << 20, 8 << 20),
        clock: settings.clock,
        segment_bytes: settings.audit.segment_mib << 20,
        write_timeout: settings.audit.write_timeout,
        min_free_bytes: settings.audit.min_free_mib << 20,
        ..Default::default()
    }
}

/// Installs the SIGTERM handler now (so a stop that arrives the moment the gateway says it is
/// ready is not the default action, an immediate exit) and resolves on SIGTERM or Ctrl-C.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match term {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
        tracing::info!("shutdown signal received");
    }
}
