//! Settings, read once at start from environment variables into typed values. A bad value stops
//! the process with a message naming the variable and the form it expects. Every default is
//! named and documented here.

use std::{net::IpAddr, path::PathBuf, str::FromStr, time::Duration};

use crate::clock::{self, Clock};
use crate::secret::Secret;
use crate::vapi::auth::{self, AuthMode};

/// Listen address when `HOST` is not set: loopback, so a laptop never exposes the gateway.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Listen port when `PORT` is not set.
pub const DEFAULT_PORT: u16 = 8080;
/// Where the local profile keeps its audit spool when `AUDIT_DIR` is not set.
pub const DEFAULT_AUDIT_DIR: &str = "var/audit";
/// The whole budget of one tool call, well under Vapi's 20 s default timeout.
pub const DEFAULT_TOOL_BUDGET: Duration = Duration::from_secs(8);
/// The budget of one Vapi request, shared by its calls in order: inside Vapi's 20 s default
/// tool timeout, with room for the network.
pub const DEFAULT_REQUEST_BUDGET: Duration = Duration::from_secs(15);
/// How long a booking waits for the practice's system to apply it before answering "pending".
pub const DEFAULT_CONFIRM_WAIT: Duration = Duration::from_millis(2500);
/// How long the sandbox practice takes to apply a write (like a Sikka writeback, but faster).
pub const DEFAULT_SANDBOX_WRITE_DELAY: Duration = Duration::from_millis(800);
/// Synced zeros kept ready ahead of the audit spool's data: an fdatasync that overwrites them
/// needs no journal commit (about 0.1 ms here against about 4 ms for an append).
pub const DEFAULT_AUDIT_PREALLOC_MIB: u64 = 32;
/// Size at which the audit spool's active file becomes a numbered segment.
pub const DEFAULT_AUDIT_SEGMENT_MIB: u64 = 64;
/// Free space on the audit directory's filesystem below which `/readyz` fails.
pub const DEFAULT_AUDIT_MIN_FREE_MIB: u64 = 256;
/// How long a caller waits for its audit entry to be durable before it hears "audit down".
pub const DEFAULT_AUDIT_WRITE_TIMEOUT: Duration = Duration::from_millis(2000);
/// Requests per practice per minute the Sikka client allows itself (Sikka's plans: 250).
pub const DEFAULT_SIKKA_REQUESTS_PER_MINUTE: u32 = 240;
/// Where the local profile keeps practices' Sikka credentials when `CREDENTIALS_FILE` is not set.
pub const DEFAULT_CREDENTIALS_FILE: &str = "var/credentials.json";
/// How often the Sikka reconciler polls `authorized_practices` when `SIKKA_RECONCILE_SECONDS`
/// is not set.
pub const DEFAULT_SIKKA_RECONCILE: Duration = Duration::from_secs(300);
/// The marketplace registrations file's name, next to the credentials file, when
/// `SIKKA_REGISTRATIONS_FILE` is not set.
pub const DEFAULT_SIKKA_REGISTRATIONS_NAME: &str = "sikka-registrations.json";
/// A Sikka call gives up this long before its tool's budget ends, so the tool can still answer.
pub const SIKKA_CALL_MARGIN: Duration = Duration::from_millis(500);
/// How often a write is polled while the caller waits for it to be confirmed.
pub const DEFAULT_CONFIRM_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a write still pending after its call is followed in the background.
pub const DEFAULT_SETTLE_FOR: Duration = Duration::from_secs(30 * 60);
/// The share of a practice's Sikka request budget its background writeback poller may use.
pub const SETTLE_SHARE_OF_REQUESTS: u32 = 10;
/// Largest request body accepted on Vapi routes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[error("{variable}={value:?} is invalid: expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl From<auth::AuthConfigError> for ConfigError {
    fn from(e: auth::AuthConfigError) -> Self {
        Self {
            variable: e.variable,
            value: e.value,
            expected: e.expected,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The sandbox practice, a local practices file, audit to a local JSONL spool.
    Local,
    /// SSM, Secrets Manager, CloudWatch Logs and Sikka.
    Aws,
}

/// How the Vapi secret was obtained, so the banner can say so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Environment,
    /// Local profile with `VAPI_WEBHOOK_SECRET` unset: a random secret for this run.
    Generated,
    /// `VAPI_WEBHOOK_SECRET` set but empty: tool routes answer 503.
    Missing,
}

/// What the receptionist's rules need to know about time.
#[derive(Debug, Clone)]
pub struct ReceptionistSettings {
    /// The whole budget of one tool call (`TOOL_BUDGET_MS`).
    pub tool_budget: Duration,
    /// How long a write waits to be applied before the answer says "pending"
    /// (`BOOKING_CONFIRM_WAIT_MS`).
    pub confirm_wait: Duration,
    /// How often a pending write is polled while the caller waits.
    pub poll_interval: Duration,
    /// How long a write still pending after the call is followed in the background.
    pub settle_for: Duration,
    /// How many writeback questions per minute a practice's poller may ask in the background:
    /// a share of the practice's request budget, however many writes are pending.
    pub settle_polls_per_minute: u32,
    /// The gateway's one clock: every "now" the rules use.
    pub clock: Clock,
    /// Whether a call's control URL may be plain `http` to a loopback address
    /// (`VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK`, tests and demos); otherwise only `https` to
    /// vapi.ai hosts (see `receptionist/control.rs`).
    pub control_allow_http_loopback: bool,
    /// Twilio, for texts (`TWILIO_*`); `None`: no texts are sent.
    pub twilio: Option<crate::sms::TwilioSettings>,
    /// A write pending longer than this makes the practice doctor warn
    /// (`DOCTOR_PENDING_WARN_SECONDS`).
    pub doctor_pending_warn: Duration,
}

impl Default for ReceptionistSettings {
    fn default() -> Self {
        Self {
            tool_budget: DEFAULT_TOOL_BUDGET,
            confirm_wait: DEFAULT_CONFIRM_WAIT,
            poll_interval: DEFAULT_CONFIRM_POLL_INTERVAL,
            settle_for: DEFAULT_SETTLE_FOR,
            settle_polls_per_minute: DEFAULT_SIKKA_REQUESTS_PER_MINUTE / SETTLE_SHARE_OF_REQUESTS,
            clock: Clock::system(),
            control_allow_http_loopback: false,
            twilio: None,
            doctor_pending_warn: crate::doctor::DEFAULT_PENDING_WARN,
        }
    }
}

/// Every setting, grouped by the part of the gateway it configures.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    /// The gateway's one clock: the system's, or (local profile only) one started at
    /// `GATEWAY_NOW`.
    pub clock: Clock,
    /// JSON log lines (`LOG_FORMAT=json`, the default) or text.
    pub json_logs: bool,
    pub server: ServerSettings,
    pub vapi: VapiSettings,
    pub audit: AuditSettings,
    pub sikka: SikkaSettings,
    pub sandbox: SandboxSettings,
    pub receptionist: ReceptionistSettings,
    /// Where the `aws` profile's stores are; `None` on the local profile.
    pub aws: Option<AwsSettings>,
    /// The admin routes' Cognito user pool (`COGNITO_ISSUER`, `COGNITO_CLIENT_ID`); `None`: those
    /// routes answer 503.
    pub cognito: Option<crate::admin::CognitoSettings>,
}

/// The HTTP server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    /// The URL Vapi uses to reach this gateway (for `{url}` in HMAC payloads and the banner).
    pub public_base_url: Option<String>,
    /// Header-read, body-read and idle deadlines of every connection.
    pub deadlines: crate::api::connection::Deadlines,
    /// The budget of one Vapi request: its calls share it in order, each still within the
    /// receptionist's tool budget.
    pub request_budget: Duration,
}

/// How Vapi's requests are verified.
#[derive(Debug, Clone)]
pub struct VapiSettings {
    /// `None`: no secret configured; the Vapi routes answer 503.
    pub auth: Option<AuthMode>,
    pub secret_source: SecretSource,
    /// The secret generated for this run (local profile only), to print in the banner.
    pub generated_secret: Option<String>,
}

/// The audit spool.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    pub dir: PathBuf,
    pub fsync: bool,
    /// MiB of synced zeros the audit spool keeps ready ahead of its data (0: append instead).
    pub prealloc_mib: u64,
    /// MiB at which the active audit file is rotated into a numbered segment (0: never).
    pub segment_mib: u64,
    /// MiB of free space the audit directory's filesystem must keep for `/readyz` to pass.
    pub min_free_mib: u64,
    /// The deadline of one audit write.
    pub write_timeout: Duration,
}

/// Sikka: the API, the application's credentials, onboarding and its webhooks.
#[derive(Debug, Clone)]
pub struct SikkaSettings {
    /// Sikka's API root (`SIKKA_BASE_URL`; an emulator's in tests).
    pub base_url: String,
    /// The application's Sikka credentials, needed when any practice is served through Sikka.
    pub app_id: Option<String>,
    pub app_key: Option<String>,
    /// The client-side request budget per practice per minute (under the Sikka plan's limit).
    pub requests_per_minute: u32,
    /// Where the local profile keeps practices' Sikka credentials.
    pub credentials_file: PathBuf,
    /// The `callback-key` Sikka sends with its webhooks (`SIKKA_CALLBACK_KEY`); `None`: the
    /// Sikka webhook routes answer 503.
    pub callback_key: Option<Secret>,
    /// The secret the marketplace purchase/cancel notifications carry in
    /// `x-marketplace-secret` (`SIKKA_MARKETPLACE_SECRET`); `None`: those routes answer 503.
    pub marketplace_secret: Option<Secret>,
    /// How often the reconciler polls `authorized_practices` (`SIKKA_RECONCILE_SECONDS`, `0`:
    /// never); `None` when off.
    pub reconcile: Option<Duration>,
    /// Where marketplace registrations are recorded (local profile).
    pub registrations_file: PathBuf,
}

/// Seconds between re-reads of the practices in SSM when `PRACTICES_REFRESH_SECONDS` is not set.
pub const DEFAULT_PRACTICES_REFRESH: Duration = Duration::from_secs(60);
/// How long a practice's credentials are served from the cache before Secrets Manager is asked
/// whether they changed (`CREDENTIALS_CACHE_SECONDS`).
pub const DEFAULT_CREDENTIALS_TTL: Duration = Duration::from_secs(300);

/// How often the `aws` profile writes its metrics (CloudWatch's standard resolution).
pub const DEFAULT_METRICS_INTERVAL: Duration = Duration::from_secs(60);
/// How long one request to the state table may take, retries included (DynamoDB answers in
/// milliseconds; a live call cannot wait on a store that does not).
pub const DEFAULT_STATE_TIMEOUT: Duration = Duration::from_secs(2);

/// When a tool call's audit entry counts as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAck {
    /// Once it is synced to the local spool (the default); the shipper sends it on.
    Spool,
    /// Once CloudWatch Logs accepted the batch holding it (`AUDIT_ACK=cloudwatch`): no loss
    /// window when a task is killed, at the cost of a CloudWatch round trip per call.
    Cloudwatch,
}

/// The `aws` profile: the names of its stores, built from `NAME_PREFIX` (default `parlae`) and
/// `DEPLOY_ENV` (required), and how they are used.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    /// `<NAME_PREFIX>/<DEPLOY_ENV>`, e.g. `parlae/dev`: every name below starts with it.
    pub prefix: String,
    /// How often the practices and routes are re-read from SSM (`PRACTICES_REFRESH_SECONDS`).
    pub practices_refresh: Duration,
    /// How long cached credentials are served before Secrets Manager is asked again
    /// (`CREDENTIALS_CACHE_SECONDS`).
    pub credentials_ttl: Duration,
    /// The KMS key that encrypts practices' secrets (`SECRETS_KMS_KEY_ID`; the account's
    /// default key for Secrets Manager when unset).
    pub secrets_kms_key: Option<String>,
    pub audit_ack: AuditAck,
    /// How often the metrics are written (`METRICS_INTERVAL_SECONDS`).
    pub metrics_interval: Duration,
    /// The CloudWatch Logs stream this task's spool ships to (`AUDIT_LOG_STREAM`); by default
    /// one is named when the spool is first shipped and kept with it.
    pub audit_stream: Option<String>,
    /// How long one request to the state table may take, retries included
    /// (`STATE_TIMEOUT_MS`); past it the state counts as unavailable.
    pub state_timeout: Duration,
}

impl AwsSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let root = crate::aws::settings::env_root(get).map_err(|e| match e {
            crate::aws::settings::AwsSettingsError::BadNamePart { variable, value } => invalid(
                variable,
                &value,
                "letters, digits, '-', '_' and '.' (part of every AWS name)",
            ),
            _ => invalid(
                "DEPLOY_ENV",
                "",
                "the deployment environment's name, such as dev or prod",
            ),
        })?;
        Ok(Self {
            prefix: root.trim_start_matches('/').to_owned(),
            practices_refresh: seconds(get, "PRACTICES_REFRESH_SECONDS")?
                .unwrap_or(DEFAULT_PRACTICES_REFRESH),
            credentials_ttl: seconds(get, "CREDENTIALS_CACHE_SECONDS")?
                .unwrap_or(DEFAULT_CREDENTIALS_TTL),
            secrets_kms_key: non_empty(get("SECRETS_KMS_KEY_ID")),
            audit_ack: match non_empty(get("AUDIT_ACK")).as_deref().map(str::trim) {
                None | Some("spool") => AuditAck::Spool,
                Some("cloudwatch") => AuditAck::Cloudwatch,
                Some(other) => return Err(invalid("AUDIT_ACK", other, "spool or cloudwatch")),
            },
            audit_stream: non_empty(get("AUDIT_LOG_STREAM")),
            metrics_interval: seconds(get, "METRICS_INTERVAL_SECONDS")?
                .unwrap_or(DEFAULT_METRICS_INTERVAL),
            state_timeout: millis(get, "STATE_TIMEOUT_MS")?
                .filter(|t| !t.is_zero())
                .unwrap_or(DEFAULT_STATE_TIMEOUT),
        })
    }

    /// `dev`: the deployment environment (the last part of the prefix).
    pub fn environment(&self) -> &str {
        self.prefix.rsplit('/').next().unwrap_or_default()
    }

    /// `/parlae/dev`: the SSM path holding `backend/`, `practices/` and `routes/`.
    pub fn ssm_root(&self) -> String {
        format!("/{}", self.prefix)
    }

    /// `parlae/dev/pms/sikka/`: the name prefix of every practice's Sikka secret.
    pub fn practice_secrets_prefix(&self) -> String {
        format!("{}/pms/sikka/", self.prefix)
    }

    /// `/parlae/dev/audit`: the log group the audit trail is shipped to.
    pub fn audit_log_group(&self) -> String {
        format!("/{}/audit", self.prefix)
    }

    /// `parlae-dev-state`: the DynamoDB table the tasks share their state in.
    pub fn state_table(&self) -> String {
        format!("{}-state", self.prefix.replace('/', "-"))
    }
}

/// The local profile's practices and its sandbox practice system.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// The practices and their routes; the embedded demo practice when `None`.
    pub practices_file: Option<PathBuf>,
    /// How long the sandbox takes to apply a write.
    pub write_delay: Duration,
    /// Patients added to the sandbox's own.
    pub extra_patients: Option<PathBuf>,
    /// A JSON weekly schedule for the sandbox practice instead of its own.
    pub schedule: Option<PathBuf>,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let profile = match get("PROFILE").as_deref() {
            None | Some("") | Some("local") => Profile::Local,
            Some("aws") => Profile::Aws,
            Some(other) => return Err(invalid("PROFILE", other, "local or aws")),
        };
        let clock = clock_from(get, profile)?;
        let sikka = SikkaSettings::from_lookup(get)?;
        let audit = AuditSettings::from_lookup(get)?;
        let audit_dir = audit.dir.clone();
        Ok(Self {
            profile,
            clock,
            json_logs: match get("LOG_FORMAT").as_deref() {
                None | Some("") | Some("json") => true,
                Some("text") => false,
                Some(other) => return Err(invalid("LOG_FORMAT", other, "json or text")),
            },
            server: ServerSettings::from_lookup(get)?,
            vapi: VapiSettings::from_lookup(get, profile)?,
            audit,
            sandbox: SandboxSettings::from_lookup(get)?,
            receptionist: ReceptionistSettings {
                tool_budget: millis(get, "TOOL_BUDGET_MS")?.unwrap_or(DEFAULT_TOOL_BUDGET),
                confirm_wait: millis(get, "BOOKING_CONFIRM_WAIT_MS")?
                    .unwrap_or(DEFAULT_CONFIRM_WAIT),
                // A share of each practice's Sikka budget settles writes in the background.
                settle_polls_per_minute: (sikka.requests_per_minute / SETTLE_SHARE_OF_REQUESTS)
                    .max(1),
                clock,
                control_allow_http_loopback: parse_bool(
                    get,
                    "VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK",
                )?
                .unwrap_or(false),
                twilio: crate::sms::TwilioSettings::from_lookup(get)?,
                doctor_pending_warn: seconds(get, "DOCTOR_PENDING_WARN_SECONDS")?
                    .unwrap_or(crate::doctor::DEFAULT_PENDING_WARN),
                ..Default::default()
            },
            sikka: SikkaSettings {
                // A task's root filesystem is read-only on ECS: the aws profile keeps the
                // registrations beside the audit spool, on the task's storage.
                registrations_file: match (profile, non_empty(get("SIKKA_REGISTRATIONS_FILE"))) {
                    (Profile::Aws, None) => audit_dir.join(DEFAULT_SIKKA_REGISTRATIONS_NAME),
                    _ => sikka.registrations_file,
                },
                ..sikka
            },
            aws: match profile {
                Profile::Aws => Some(AwsSettings::from_lookup(get)?),
                Profile::Local => None,
            },
            cognito: cognito_from(get)?,
        })
    }
}

/// The admin routes' user pool: both `COGNITO_ISSUER` and `COGNITO_CLIENT_ID`, or neither.
fn cognito_from(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<crate::admin::CognitoSettings>, ConfigError> {
    match (
        non_empty(get("COGNITO_ISSUER")),
        non_empty(get("COGNITO_CLIENT_ID")),
    ) {
        (None, None) => Ok(None),
        (Some(issuer), Some(client_id)) => {
            let issuer = issuer.trim().trim_end_matches('/').to_owned();
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                return Err(invalid(
                    "COGNITO_ISSUER",
                    &issuer,
                    "the user pool's issuer URL, such as https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
                ));
            }
            Ok(Some(crate::admin::CognitoSettings {
                issuer,
                client_id: client_id.trim().to_owned(),
            }))
        }
        (None, Some(_)) => Err(invalid(
            "COGNITO_ISSUER",
            "",
            "set together with COGNITO_CLIENT_ID: the user pool's issuer URL",
        )),
        (Some(_), None) => Err(invalid(
            "COGNITO_CLIENT_ID",
            "",
            "set together with COGNITO_ISSUER: the app client id whose access tokens are accepted",
        )),
    }
}

/// The clock: `GATEWAY_NOW` pins it on the local profile; the aws profile refuses it.
fn clock_from(
    get: &dyn Fn(&str) -> Option<String>,
    profile: Profile,
) -> Result<Clock, ConfigError> {
    Ok(match non_empty(get(clock::GATEWAY_NOW)) {
        None => Clock::system(),
        Some(raw) if profile == Profile::Aws => {
            return Err(invalid(
                clock::GATEWAY_NOW,
                &raw,
                "nothing on the aws profile: a pinned clock is for the local profile and tests",
            ));
        }
        Some(raw) => Clock::starting_at(clock::parse_start(&raw).map_err(|_| {
            invalid(
                clock::GATEWAY_NOW,
                &raw,
                "an instant with its offset, such as 2027-03-14T09:55:00-07:00 (optionally with [Zone/Name]), or a shift from the real clock such as +36h or -7d",
            )
        })?),
    })
}

impl ServerSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = crate::api::connection::Deadlines::default();
        Ok(Self {
            host: parse(get, "HOST", "an IP address such as 127.0.0.1 or 0.0.0.0")?
                .unwrap_or_else(|| DEFAULT_HOST.parse().expect("valid default")),
            port: parse(get, "PORT", "a TCP port number between 0 and 65535")?
                .unwrap_or(DEFAULT_PORT),
            public_base_url: non_empty(get("PUBLIC_BASE_URL"))
                .map(|u| u.trim_end_matches('/').to_owned()),
            deadlines: crate::api::connection::Deadlines {
                header_read: millis(get, "HTTP_HEADER_TIMEOUT_MS")?.unwrap_or(defaults.header_read),
                body_read: millis(get, "HTTP_BODY_TIMEOUT_MS")?.unwrap_or(defaults.body_read),
                idle: millis(get, "HTTP_IDLE_TIMEOUT_MS")?.unwrap_or(defaults.idle),
            },
            request_budget: millis(get, "REQUEST_BUDGET_MS")?.unwrap_or(DEFAULT_REQUEST_BUDGET),
        })
    }
}

impl VapiSettings {
    fn from_lookup(
        get: &dyn Fn(&str) -> Option<String>,
        profile: Profile,
    ) -> Result<Self, ConfigError> {
        if profile == Profile::Local && get("VAPI_WEBHOOK_SECRET").is_none() {
            let secret = format!("local-{}", uuid::Uuid::new_v4().simple());
            let with_secret = |name: &str| match name {
                "VAPI_WEBHOOK_SECRET" => Some(secret.clone()),
                other => get(other),
            };
            return Ok(Self {
                auth: auth::from_env(&with_secret)?,
                secret_source: SecretSource::Generated,
                generated_secret: Some(secret),
            });
        }
        let auth = auth::from_env(get)?;
        Ok(Self {
            secret_source: match auth {
                Some(_) => SecretSource::Environment,
                None => SecretSource::Missing,
            },
            auth,
            generated_secret: None,
        })
    }
}

impl AuditSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            dir: non_empty(get("AUDIT_DIR"))
                .map_or_else(|| DEFAULT_AUDIT_DIR.into(), PathBuf::from),
            fsync: parse_bool(get, "AUDIT_FSYNC")?.unwrap_or(true),
            prealloc_mib: parse(
                get,
                "AUDIT_PREALLOC_MIB",
                "a whole number of MiB (0 turns preallocation off)",
            )?
            .unwrap_or(DEFAULT_AUDIT_PREALLOC_MIB),
            segment_mib: parse(
                get,
                "AUDIT_SEGMENT_MIB",
                "a whole number of MiB (0: never rotate)",
            )?
            .unwrap_or(DEFAULT_AUDIT_SEGMENT_MIB),
            min_free_mib: parse(get, "AUDIT_MIN_FREE_MIB", "a whole number of MiB")?
                .unwrap_or(DEFAULT_AUDIT_MIN_FREE_MIB),
            write_timeout: millis(get, "AUDIT_WRITE_TIMEOUT_MS")?
                .unwrap_or(DEFAULT_AUDIT_WRITE_TIMEOUT),
        })
    }
}

impl SikkaSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let credentials_file: PathBuf = non_empty(get("CREDENTIALS_FILE"))
            .map_or_else(|| DEFAULT_CREDENTIALS_FILE.into(), PathBuf::from);
        Ok(Self {
            base_url: non_empty(get("SIKKA_BASE_URL")).map_or_else(
                || crate::pms::sikka::DEFAULT_BASE_URL.to_owned(),
                |u| u.trim_end_matches('/').to_owned(),
            ),
            app_id: non_empty(get("SIKKA_APP_ID")),
            app_key: non_empty(get("SIKKA_APP_KEY")),
            requests_per_minute: parse(
                get,
                "SIKKA_REQUESTS_PER_MINUTE",
                "a whole number of requests per minute",
            )?
            .unwrap_or(DEFAULT_SIKKA_REQUESTS_PER_MINUTE),
            registrations_file: non_empty(get("SIKKA_REGISTRATIONS_FILE")).map_or_else(
                || credentials_file.with_file_name(DEFAULT_SIKKA_REGISTRATIONS_NAME),
                PathBuf::from,
            ),
            credentials_file,
            callback_key: non_empty(get("SIKKA_CALLBACK_KEY")).map(Secret::new),
            marketplace_secret: non_empty(get("SIKKA_MARKETPLACE_SECRET")).map(Secret::new),
            reconcile: match parse::<u64>(
                get,
                "SIKKA_RECONCILE_SECONDS",
                "a whole number of seconds (0 turns the reconciler off)",
            )? {
                None => Some(DEFAULT_SIKKA_RECONCILE),
                Some(0) => None,
                Some(n) => Some(Duration::from_secs(n)),
            },
        })
    }
}

impl SandboxSettings {
    fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            practices_file: non_empty(get("PRACTICES_FILE")).map(PathBuf::from),
            write_delay: millis(get, "SANDBOX_WRITE_DELAY_MS")?
                .unwrap_or(DEFAULT_SANDBOX_WRITE_DELAY),
            extra_patients: non_empty(get("SANDBOX_EXTRA_PATIENTS")).map(PathBuf::from),
            schedule: non_empty(get("SANDBOX_SCHEDULE")).map(PathBuf::from),
        })
    }
}

fn invalid(variable: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        expected,
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

fn parse<T: FromStr>(
    get: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    match non_empty(get(variable)) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(variable, &raw, expected)),
    }
}

fn parse_bool(
    get: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<bool>, ConfigError> {
    match non_empty(get(variable)).as_deref().map(str::trim) {
        None => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(other) => Err(invalid(variable, other, "true or false")),
    }
}

fn millis(
    get: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    Ok(parse::<u64>(get, variable, "a whole number of milliseconds")?.map(Duration::from_millis))
}

/// A whole number of seconds, at least 1.
fn seconds(
    get: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<Duration>, ConfigError> {
    match parse::<u64>(get, variable, "a whole number of seconds, at least 1")? {
        Some(0) => Err(invalid(
            variable,
            "0",
            "a whole number of seconds, at least 1",
        )),
        other => Ok(other.map(Duration::from_secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aws_profile_names_its_stores_from_prefix_and_environment() {
        let aws = settings(&[("PROFILE", "aws"), ("DEPLOY_ENV", "dev")])
            .unwrap()
            .aws
            .expect("aws settings on the aws profile");
        assert_eq!(aws.ssm_root(), "/parlae/dev");
        assert_eq!(aws.practice_secrets_prefix(), "parlae/dev/pms/sikka/");
        assert_eq!(aws.audit_log_group(), "/parlae/dev/audit");
        assert_eq!(aws.practices_refresh, DEFAULT_PRACTICES_REFRESH);
        assert_eq!(aws.credentials_ttl, DEFAULT_CREDENTIALS_TTL);
        assert_eq!(aws.audit_ack, AuditAck::Spool);
        let aws = settings(&[
            ("PROFILE", "aws"),
            ("NAME_PREFIX", "acme"),
            ("DEPLOY_ENV", "prod"),
            ("PRACTICES_REFRESH_SECONDS", "15"),
            ("AUDIT_ACK", "cloudwatch"),
        ])
        .unwrap()
        .aws
        .unwrap();
        assert_eq!(aws.audit_log_group(), "/acme/prod/audit");
        assert_eq!(aws.practices_refresh, Duration::from_secs(15));
        assert_eq!(aws.audit_ack, AuditAck::Cloudwatch);
        assert!(settings(&[]).unwrap().aws.is_none());
        for (name, bad) in [
            ("PRACTICES_REFRESH_SECONDS", "0"),
            ("PRACTICES_REFRESH_SECONDS", "1.5"),
            ("CREDENTIALS_CACHE_SECONDS", "soon"),
            ("AUDIT_ACK", "s3"),
            ("DEPLOY_ENV", "dev/../prod"),
        ] {
            // The first of two equal names wins, so the bad value comes first.
            let error = settings(&[(name, bad), ("PROFILE", "aws"), ("DEPLOY_ENV", "dev")])
                .unwrap_err()
                .to_string();
            assert!(error.starts_with(name), "{name}={bad}: {error}");
        }
        let error = settings(&[("PROFILE", "aws")]).unwrap_err().to_string();
        assert!(error.starts_with("DEPLOY_ENV"), "{error}");
    }

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(&move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn a_bad_port_names_the_variable_and_the_expected_form() {
        let err = settings(&[("PORT", "abc")]).unwrap_err().to_string();
        assert_eq!(
            err,
            "PORT=\"abc\" is invalid: expected a TCP port number between 0 and 65535"
        );
    }

    #[test]
    fn defaults_serve_loopback_8080_with_a_generated_secret() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            (s.server.host.to_string(), s.server.port),
            ("127.0.0.1".to_owned(), 8080)
        );
        assert_eq!(s.vapi.secret_source, SecretSource::Generated);
        assert!(s.vapi.auth.is_some());
    }

    #[test]
    fn an_empty_secret_means_no_secret() {
        let s = settings(&[("VAPI_WEBHOOK_SECRET", "")]).unwrap();
        assert_eq!(s.vapi.secret_source, SecretSource::Missing);
        assert!(s.vapi.auth.is_none());
    }

    #[test]
    fn sikka_onboarding_settings() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.sikka.reconcile, Some(DEFAULT_SIKKA_RECONCILE));
        assert!(s.sikka.callback_key.is_none() && s.sikka.marketplace_secret.is_none());
        assert_eq!(
            s.sikka.registrations_file,
            PathBuf::from("var/sikka-registrations.json")
        );
        let s = settings(&[
            ("SIKKA_RECONCILE_SECONDS", "0"),
            ("SIKKA_CALLBACK_KEY", "cb"),
            ("CREDENTIALS_FILE", "/x/creds.json"),
        ])
        .unwrap();
        assert_eq!(s.sikka.reconcile, None);
        assert_eq!(s.sikka.callback_key.unwrap().expose(), "cb");
        assert_eq!(
            s.sikka.registrations_file,
            PathBuf::from("/x/sikka-registrations.json")
        );
        let err = settings(&[("SIKKA_RECONCILE_SECONDS", "5m")]).unwrap_err();
        assert_eq!(err.variable, "SIKKA_RECONCILE_SECONDS");
    }

    #[test]
    fn gateway_now_pins_the_local_clock_and_the_aws_profile_refuses_it() {
        let s = settings(&[("GATEWAY_NOW", "2027-03-14T09:55:00-07:00")]).unwrap();
        assert!(s.clock.is_pinned());
        let now = s.clock.now();
        let start: jiff::Timestamp = "2027-03-14T16:55:00Z".parse().unwrap();
        assert!(now >= start && now.duration_since(start) < jiff::SignedDuration::from_secs(5));
        assert!(!settings(&[]).unwrap().clock.is_pinned());
        let err = settings(&[
            ("PROFILE", "aws"),
            ("GATEWAY_NOW", "2027-03-14T09:55:00-07:00"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "GATEWAY_NOW");
        let err = settings(&[("GATEWAY_NOW", "next tuesday")]).unwrap_err();
        assert!(
            err.to_string().contains("2027-03-14T09:55:00-07:00"),
            "{err}"
        );
    }

    #[test]
    fn bad_durations_and_flags_are_refused() {
        assert_eq!(
            settings(&[("TOOL_BUDGET_MS", "5s")]).unwrap_err().variable,
            "TOOL_BUDGET_MS"
        );
        assert_eq!(
            settings(&[("AUDIT_FSYNC", "maybe")]).unwrap_err().variable,
            "AUDIT_FSYNC"
        );
        assert_eq!(
            settings(&[("PROFILE", "prod")]).unwrap_err().variable,
            "PROFILE"
        );
    }
}
