//! The `aws` profile's stores, built from [`AwsSettings`]: the practices and routes from SSM
//! ([`SsmDirectory`]), their Sikka credentials in Secrets Manager
//! ([`SecretsManagerCredentials`]), and the practices' own Vapi secrets read from Secrets
//! Manager by the reference each practice names. The directory re-reads the practices every
//! `PRACTICES_REFRESH_SECONDS`; after each refresh the Vapi secrets of practices that are new,
//! whose reference changed, or whose secret could not be read before are read (a practice whose
//! secret cannot be read is *locked*, never opened to the gateway-wide secret). The audit spool
//! ships to CloudWatch Logs ([`audit`]). The stores' figures are registered with the metrics.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
    time::Duration,
};

use anyhow::Context;

use super::{
    audit_logs::{self, CloudWatchLogs},
    practices::SsmDirectory,
    secrets::{SecretsConfig, SecretsManagerCredentials, read_secret_string},
};
use crate::{
    audit::{
        AuditSink, Spool,
        shipper::{AckedSpool, Shipper, ShipperOptions},
    },
    config::{AuditAck, AwsSettings, Settings},
    metrics,
    pms::{AccountId, sikka::SikkaClient},
    secret::Secret,
    startup::{Stores, practice_options},
    vapi::{auth::AuthMode, practice_auth::PracticeAuth},
};

/// How long a tool call waits for CloudWatch to accept its entry with `AUDIT_ACK=cloudwatch`
/// before it is answered as not recorded.
pub const CLOUDWATCH_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The audit trail's way to CloudWatch Logs: the shipper, and the sink tool calls record to
/// (the spool, or with `AUDIT_ACK=cloudwatch` the spool then CloudWatch's acceptance).
pub struct ShippedAudit {
    pub shipper: Arc<Shipper>,
    pub sink: Arc<dyn AuditSink>,
}

/// Starts shipping `spool` to the environment's audit log group.
pub fn audit(
    settings: &Settings,
    aws: &AwsSettings,
    sdk: &aws_config::SdkConfig,
    spool: &Arc<Spool>,
) -> anyhow::Result<ShippedAudit> {
    let destination = CloudWatchLogs::new(audit_logs::client(sdk), aws.audit_log_group());
    let options = ShipperOptions {
        stream: aws.audit_stream.clone(),
        clock: settings.clock,
        ..ShipperOptions::default()
    };
    let shipper = Arc::new(
        Shipper::start(spool.path(), spool.durable(), destination, options)
            .context("starting the audit shipper")?,
    );
    tracing::info!(group = %aws.audit_log_group(), stream = shipper.stream(), "audit trail ships to CloudWatch Logs");
    let sink: Arc<dyn AuditSink> = match aws.audit_ack {
        AuditAck::Spool => spool.clone(),
        AuditAck::Cloudwatch => Arc::new(AckedSpool::new(
            spool.clone(),
            shipper.shipped(),
            CLOUDWATCH_ACK_TIMEOUT,
        )),
    };
    let m = metrics::global();
    let s = shipper.clone();
    m.gauge(
        "AuditBacklog",
        "Count",
        Box::new(move || s.stats().backlog as f64),
    );
    let s = shipper.clone();
    m.gauge(
        "AuditBacklogAge",
        "Seconds",
        Box::new(move || {
            s.stats()
                .oldest_unshipped_age
                .map_or(0.0, |age| age.as_secs_f64())
        }),
    );
    for (name, q) in [("AuditShipLagP50", 0.5), ("AuditShipLagP99", 0.99)] {
        let s = shipper.clone();
        m.gauge(
            name,
            "Milliseconds",
            Box::new(move || s.stats().lag_quantile(q).as_secs_f64() * 1000.0),
        );
    }
    let s = shipper.clone();
    m.total(
        "AuditDeadLetters",
        Box::new(move || s.stats().dead_letters as f64),
    );
    let s = shipper.clone();
    m.total(
        "AuditShipRetries",
        Box::new(move || s.stats().retries as f64),
    );
    Ok(ShippedAudit { shipper, sink })
}

/// The stores, and the task that keeps them fresh (stopped when dropped).
pub struct AwsStores {
    pub stores: Stores,
    pub directory: Arc<SsmDirectory>,
    pub credentials: Arc<SecretsManagerCredentials>,
    /// The tasks that re-read the practices, and their Vapi secrets after each refresh.
    pub refreshers: [tokio::task::JoinHandle<()>; 2],
}

/// Reads the practices and their Vapi secrets; an unreachable Parameter Store stops the start.
pub async fn stores(
    settings: &Settings,
    aws: &AwsSettings,
    sdk: &aws_config::SdkConfig,
    sikka: Option<SikkaClient>,
) -> anyhow::Result<AwsStores> {
    let secrets = aws_sdk_secretsmanager::Client::new(sdk);
    let credentials = Arc::new(SecretsManagerCredentials::new(
        secrets.clone(),
        SecretsConfig::from_settings(aws),
    ));
    let state =
        crate::aws::state::Table::new(sdk, aws.state_table(), settings.clock, aws.state_timeout)
            .stores();
    let options = practice_options(settings, sikka, credentials.clone(), state.leases.clone())?;
    let directory = Arc::new(
        SsmDirectory::load(aws_sdk_ssm::Client::new(sdk), &aws.ssm_root(), options)
            .await
            .context("loading the practices from SSM Parameter Store")?,
    );
    let mode = settings.vapi.auth.clone();
    let practice_auth = Arc::new(PracticeAuth::default());
    let mut vapi_secrets = VapiSecrets {
        client: secrets,
        read: HashMap::new(),
    };
    vapi_secrets
        .refresh(&directory, &practice_auth, mode.as_ref())
        .await;
    register_metrics(&directory, &credentials);
    let refresher = directory.spawn_refresh(aws.practices_refresh);
    let follower = tokio::spawn(follow_refreshes(
        directory.refreshed(),
        Arc::downgrade(&directory),
        vapi_secrets,
        practice_auth.clone(),
        mode,
    ));
    Ok(AwsStores {
        stores: Stores {
            audit_query: Arc::new(crate::admin::CloudWatchQuery::new(
                aws_sdk_cloudwatchlogs::Client::new(sdk),
                aws.audit_log_group(),
            )),
            directory: directory.clone(),
            credentials: credentials.clone(),
            practice_auth,
            state,
        },
        directory,
        credentials,
        refreshers: [refresher, follower],
    })
}

/// The practices' own Vapi secrets, by account and the reference they were read from.
struct VapiSecrets {
    client: aws_sdk_secretsmanager::Client,
    /// `None`: the read failed; tried again at the next refresh.
    read: HashMap<AccountId, (String, Option<Secret>)>,
}

impl VapiSecrets {
    /// Reads what is new or failed before, and replaces the practices' checks.
    async fn refresh(
        &mut self,
        directory: &SsmDirectory,
        auth: &PracticeAuth,
        mode: Option<&AuthMode>,
    ) {
        let refs = directory.vapi_secret_refs();
        let mut next = HashMap::with_capacity(refs.len());
        for (account, reference) in refs {
            let known = self
                .read
                .remove(&account)
                .filter(|(r, secret)| *r == reference && secret.is_some());
            let secret = match known {
                Some((_, secret)) => secret,
                None => match read_secret_string(&self.client, &reference).await {
                    Ok(secret) => Some(secret),
                    Err(error) => {
                        tracing::warn!(account = %account, %error, "a practice's own Vapi secret could not be read; its calls are refused until it can");
                        None
                    }
                },
            };
            next.insert(account, (reference, secret));
        }
        self.read = next;
        let all: Vec<(AccountId, Option<Secret>)> = self
            .read
            .iter()
            .map(|(account, (_, secret))| (account.clone(), secret.clone()))
            .collect();
        auth.replace_some(mode, &all);
    }
}

/// Re-reads the practices' own Vapi secrets after each refresh of the directory.
async fn follow_refreshes(
    mut refreshed: tokio::sync::watch::Receiver<u64>,
    directory: Weak<SsmDirectory>,
    mut vapi_secrets: VapiSecrets,
    auth: Arc<PracticeAuth>,
    mode: Option<AuthMode>,
) {
    while refreshed.changed().await.is_ok() {
        let Some(directory) = directory.upgrade() else {
            return;
        };
        vapi_secrets.refresh(&directory, &auth, mode.as_ref()).await;
    }
}

fn register_metrics(directory: &Arc<SsmDirectory>, credentials: &Arc<SecretsManagerCredentials>) {
    let m = metrics::global();
    let d = directory.clone();
    m.gauge(
        "PracticesLoaded",
        "Count",
        Box::new(move || d.stats().practices as f64),
    );
    let d = directory.clone();
    m.gauge(
        "PracticesRejected",
        "Count",
        Box::new(move || d.stats().rejected as f64),
    );
    let d = directory.clone();
    m.total(
        "PracticeRefreshFailures",
        Box::new(move || d.failed_refreshes() as f64),
    );
    let c = credentials.clone();
    m.total(
        "CredentialCacheHits",
        Box::new(move || c.stats().hits as f64),
    );
    let c = credentials.clone();
    m.total(
        "CredentialCacheMisses",
        Box::new(move || c.stats().misses as f64),
    );
    let c = credentials.clone();
    m.total(
        "CredentialStaleServed",
        Box::new(move || c.stats().stale_served as f64),
    );
    let counts = &crate::state::COUNTS;
    let read = |c: &'static std::sync::atomic::AtomicU64| {
        Box::new(move || c.load(std::sync::atomic::Ordering::Relaxed) as f64)
    };
    m.total("DynamoDbRequests", read(&counts.calls));
    m.total("DynamoDbThrottles", read(&counts.throttles));
    m.total("StateErrors", read(&counts.errors));
    let sms = &crate::sms::COUNTS;
    m.total("SmsSent", read(&sms.sent));
    m.total("SmsFailed", read(&sms.failed));
    m.total("SmsOptedOut", read(&sms.opted_out));
    let c = credentials.clone();
    m.total(
        "SecretsManagerReads",
        Box::new(move || {
            let stats = c.stats();
            (stats.gets + stats.describes) as f64
        }),
    );
}
