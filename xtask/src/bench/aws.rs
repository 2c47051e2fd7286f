//! The `aws` profile under load, against moto on loopback: a release gateway whose settings and
//! practice come from SSM and whose audit trail ships to CloudWatch Logs, once with the default
//! acknowledgement (the spool) and once with `AUDIT_ACK=cloudwatch`; the shipper on its own
//! (entries per second from a spool to CloudWatch, and its lag); and the Secrets Manager reads
//! that 1,000 credential loads of one practice cost through the gateway's cache. The gateway
//! runs on the system clock here (the aws profile refuses a pinned one), so the availability
//! asked for is the next weekday from today.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
use gateway::{
    audit::{
        AuditAction, AuditActor, AuditEvent, AuditOutcome, AuditSink, Spool, SpoolOptions,
        shipper::{Shipper, ShipperOptions},
    },
    aws::{
        audit_logs::CloudWatchLogs,
        practice_admin::{PracticeAdmin, PracticeRecord},
        practices::SsmPracticeEntry,
        secrets::{SecretsConfig, SecretsManagerCredentials},
    },
    clock::Clock,
    pms::{AccountId, OfficeId},
    practices::{CredentialStore, PmsBinding, SikkaCredentials},
    secret::Secret,
};
use serde_json::Value;
use xshell::Shell;

use super::{SECRET, probe, requests, requests::Signer, wrk};
use crate::{banner, gateway::Gateway, venv};

const ENV: &str = "bench";
/// Entries the shipper measurement writes.
const SHIPPED_ENTRIES: usize = 50_000;
/// Credential loads of one practice in the cache measurement.
const CREDENTIAL_LOADS: usize = 1_000;

/// One load run of the aws profile.
pub struct AwsRow {
    pub scenario: &'static str,
    pub outcome: wrk::Outcome,
    /// Tool calls the gateway counted (its EMF `ToolCalls`).
    pub tool_calls: f64,
    /// The shipper's lag (durable → accepted by CloudWatch) at p50 and p99, in ms.
    pub lag_ms: (f64, f64),
}

pub struct AwsMeasured {
    pub rows: Vec<AwsRow>,
    /// The shipper alone: entries per second, and its lag at p50 and p99 (ms).
    pub shipper_rate: f64,
    pub shipper_lag_ms: (f64, f64),
    /// `GetSecretValue` and `DescribeSecret` calls for [`CREDENTIAL_LOADS`] loads.
    pub secret_gets: u64,
    pub secret_describes: u64,
    /// The shared state's cost and the booking path on DynamoDB.
    pub state: super::state::StateMeasured,
}

pub fn run(
    sh: &Shell,
    seconds: u32,
    threads: u32,
    connections: u32,
    binary: &Path,
) -> Result<AwsMeasured> {
    let venv = venv::ensure(sh)?;
    let moto = Moto::start(&venv.join("bin/moto_server"))?;
    banner(&format!("aws profile: moto ready at {}", moto.endpoint));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sdk = runtime.block_on(moto.sdk());
    runtime.block_on(seed(&sdk))?;

    let today = Clock::system()
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let date = (1..=7)
        .map(|n| today + jiff::Span::new().days(n))
        .find(|d| d.weekday().to_monday_one_offset() <= 5)
        .expect("a weekday within a week");
    let signer = Signer::now(SECRET);
    let availability = signer.sign(requests::check_availability_on(&date.to_string()));
    const AVAILABILITY: &str = "/vapi/tools/check_availability";
    let scratch = crate::gateway::TempDir::new("xtask-bench-aws")?;
    let mut rows = Vec::new();
    for (scenario, ack) in [
        ("aws check_availability", "spool"),
        ("aws ... AUDIT_ACK=cloudwatch", "cloudwatch"),
    ] {
        let audit = scratch.path().join(format!("audit-{ack}"));
        let mut env = moto.env();
        env.extend([
            ("PROFILE", "aws".to_owned()),
            ("DEPLOY_ENV", ENV.to_owned()),
            ("VAPI_AUTH_MODE", "secret".to_owned()),
            ("VAPI_WEBHOOK_SECRET", SECRET.to_owned()),
            ("AUDIT_FSYNC", "true".to_owned()),
            ("AUDIT_ACK", ack.to_owned()),
            ("AUDIT_DIR", audit.display().to_string()),
            ("METRICS_INTERVAL_SECONDS", "1".to_owned()),
            ("RUST_LOG", "warn,gateway::startup=info".to_owned()),
        ]);
        let log = scratch.path().join(format!("gateway-{ack}.log"));
        let gateway = Gateway::start(binary, &env, &log)?;
        let first = probe::tool_call(&gateway.address, AVAILABILITY, &signer, &availability)?;
        banner(&format!(
            "{scenario}: first result {first}; wrk -t{threads} -c{connections} -d{seconds}s"
        ));
        let script = scratch.path().join(format!("aws-{ack}.lua"));
        std::fs::write(&script, wrk::static_post_script(&signer, &availability))?;
        let url = format!("{}{AVAILABILITY}", gateway.address);
        let outcome = wrk::run(sh, &url, &script, threads, connections, seconds)?;
        gateway.stop()?;
        let (tool_calls, lag_ms) = emf_figures(&log)?;
        rows.push(AwsRow {
            scenario,
            outcome,
            tool_calls,
            lag_ms,
        });
    }

    banner(&format!(
        "the shipper alone: {SHIPPED_ENTRIES} entries from a spool to CloudWatch Logs"
    ));
    let (shipper_rate, shipper_lag_ms) =
        runtime.block_on(shipper_alone(&sdk, &scratch.path().join("shipper")))?;
    banner(&format!(
        "credential cache: {CREDENTIAL_LOADS} loads of one practice"
    ));
    let (secret_gets, secret_describes) = runtime.block_on(credential_loads(&sdk))?;
    let load = (threads, connections, seconds);
    let day = date.to_string();
    let state = super::state::run(sh, &moto, binary, scratch.path(), load, &day)?;
    Ok(AwsMeasured {
        rows,
        shipper_rate,
        shipper_lag_ms,
        secret_gets,
        secret_describes,
        state,
    })
}

pub fn print(m: &AwsMeasured) {
    println!(
        "\n{:<30} {:>10} {:>10} {:>10} {:>9} {:>12} {:>12}",
        "aws profile (moto)", "req/s", "p50", "p99", "non-2xx", "ship lag p50", "ship lag p99"
    );
    for r in &m.rows {
        println!(
            "{:<30} {:>10.0} {:>10} {:>10} {:>9} {:>9.1} ms {:>9.1} ms",
            r.scenario,
            r.outcome.requests_per_second(),
            super::millis(r.outcome.p50_us),
            super::millis(r.outcome.p99_us),
            r.outcome.non_2xx,
            r.lag_ms.0,
            r.lag_ms.1,
        );
    }
    println!(
        "shipper alone: {:.0} entries/s to CloudWatch Logs (moto), lag p50 {:.1} ms, p99 {:.1} ms",
        m.shipper_rate, m.shipper_lag_ms.0, m.shipper_lag_ms.1
    );
    println!(
        "credentials: {CREDENTIAL_LOADS} loads of one practice → {} GetSecretValue, {} DescribeSecret",
        m.secret_gets, m.secret_describes
    );
    super::state::print(&m.state);
}

pub fn report(m: &AwsMeasured) -> Vec<Value> {
    let mut out: Vec<Value> = m
        .rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "scenario": r.scenario,
                "requests": r.outcome.requests,
                "requests_per_second": r.outcome.requests_per_second(),
                "p50_us": r.outcome.p50_us,
                "p99_us": r.outcome.p99_us,
                "non_2xx": r.outcome.non_2xx,
                "tool_calls_counted": r.tool_calls,
                "ship_lag_p50_ms": r.lag_ms.0,
                "ship_lag_p99_ms": r.lag_ms.1,
            })
        })
        .collect();
    out.push(serde_json::json!({
        "scenario": "aws shipper alone",
        "entries": SHIPPED_ENTRIES,
        "entries_per_second": m.shipper_rate,
        "lag_p50_ms": m.shipper_lag_ms.0,
        "lag_p99_ms": m.shipper_lag_ms.1,
    }));
    out.push(serde_json::json!({
        "scenario": "aws credential cache",
        "loads": CREDENTIAL_LOADS,
        "get_secret_value": m.secret_gets,
        "describe_secret": m.secret_describes,
    }));
    out.extend(super::state::report(&m.state));
    out
}

pub fn errors(m: &AwsMeasured, max_share: f64) -> Vec<String> {
    let booking = &m.state.booking;
    let booking_failed =
        booking.requests == 0 || booking.non_2xx as f64 > max_share * booking.requests as f64;
    m.rows
        .iter()
        .filter(|r| {
            r.outcome.requests == 0
                || r.outcome.non_2xx as f64 > max_share * r.outcome.requests as f64
        })
        .map(|r| format!("{} ({} non-2xx)", r.scenario, r.outcome.non_2xx))
        .chain(
            booking_failed.then(|| format!("aws book_appointment ({} non-2xx)", booking.non_2xx)),
        )
        .collect()
}

/// The backend settings, the practice (sandbox, `acct_demo` on `pn_demo`) and the log group.
async fn seed(sdk: &aws_config::SdkConfig) -> Result<()> {
    let ssm = aws_sdk_ssm::Client::new(sdk);
    for (name, value) in [
        ("VAPI_WEBHOOK_SECRET", SECRET),
        ("SIKKA_APP_ID", "bench-app"),
        ("SIKKA_APP_KEY", "bench-app-key"),
        ("SIKKA_CALLBACK_KEY", "bench-callback-key"),
        ("PUBLIC_BASE_URL", "https://gateway.bench.example"),
    ] {
        ssm.put_parameter()
            .name(format!("/parlae/{ENV}/backend/{name}"))
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .with_context(|| format!("seeding {name}"))?;
    }
    let record = PracticeRecord {
        account_id: AccountId::new("acct_demo"),
        entry: SsmPracticeEntry {
            name: "Bright Smile Dental".into(),
            time_zone: "America/Los_Angeles".into(),
            transfer_number: None,
            staff_sms_number: None,
            phone_numbers: Vec::new(),
            vapi_secret_ref: None,
            pms: PmsBinding::Sandbox,
        },
        phone_number_ids: vec!["pn_demo".into()],
        assistant_ids: Vec::new(),
    };
    PracticeAdmin::new(ssm, &format!("/parlae/{ENV}"))
        .add(&record, true)
        .await?;
    aws_sdk_cloudwatchlogs::Client::new(sdk)
        .create_log_group()
        .log_group_name(format!("/parlae/{ENV}/audit"))
        .send()
        .await
        .context("creating the audit log group")?;
    super::state::create_table(sdk, &format!("parlae-{ENV}-state")).await
}

/// The gateway's own counts from its EMF lines: tool calls (summed), and the last shipping lag.
fn emf_figures(log: &Path) -> Result<(f64, (f64, f64))> {
    let text = std::fs::read_to_string(log)?;
    let mut calls = 0.0;
    let mut lag = (0.0, 0.0);
    for doc in text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
    {
        if doc.get("_aws").is_none() {
            continue;
        }
        calls += doc["ToolCalls"].as_f64().unwrap_or(0.0);
        if let (Some(p50), Some(p99)) = (
            doc["AuditShipLagP50"].as_f64(),
            doc["AuditShipLagP99"].as_f64(),
        ) {
            lag = (p50, p99);
        }
    }
    Ok((calls, lag))
}

/// Writes [`SHIPPED_ENTRIES`] entries (fsynced, from 64 writers) to a spool shipping to moto;
/// entries per second from the first write until CloudWatch accepted the last.
async fn shipper_alone(sdk: &aws_config::SdkConfig, dir: &Path) -> Result<(f64, (f64, f64))> {
    std::fs::create_dir_all(dir)?;
    let spool = Arc::new(Spool::open(
        dir.join("audit.jsonl"),
        SpoolOptions::default(),
    )?);
    let destination = CloudWatchLogs::new(
        gateway::aws::audit_logs::client(sdk),
        format!("/parlae/{ENV}/audit"),
    );
    let shipper = Shipper::start(
        spool.path(),
        spool.durable(),
        destination,
        ShipperOptions {
            stream: Some("bench-shipper".into()),
            ..ShipperOptions::default()
        },
    )?;
    let started = Instant::now();
    let mut writers = Vec::new();
    for w in 0..64 {
        let spool = spool.clone();
        writers.push(tokio::spawn(async move {
            for n in (w..SHIPPED_ENTRIES).step_by(64) {
                spool.record(event(n)).await?;
            }
            Ok::<_, gateway::audit::AuditError>(())
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let mut shipped = shipper.shipped();
    tokio::time::timeout(
        Duration::from_secs(120),
        shipped.wait_for(|&s| s >= SHIPPED_ENTRIES as u64),
    )
    .await
    .context("the shipper did not ship the entries within 2 minutes")??;
    let rate = SHIPPED_ENTRIES as f64 / started.elapsed().as_secs_f64();
    let stats = shipper.stats();
    shipper.shutdown().await;
    spool.close().await;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Ok((
        rate,
        (ms(stats.lag_quantile(0.5)), ms(stats.lag_quantile(0.99))),
    ))
}

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        action: AuditAction::Read,
        outcome: AuditOutcome::Success,
        resource: "check_availability".into(),
        account_id: Some(AccountId::new("acct_demo")),
        actor: AuditActor {
            kind: "vapi".into(),
            call_id: Some(format!("call_{n}")),
            ..AuditActor::default()
        },
        patient_ids: Vec::new(),
        request_id: None,
        source_ip: None,
        reason: None,
    }
}

/// [`CREDENTIAL_LOADS`] loads of one practice's credentials (100 at a time) through the cache.
async fn credential_loads(sdk: &aws_config::SdkConfig) -> Result<(u64, u64)> {
    let settings = gateway::config::Settings::from_lookup(&|name| match name {
        "PROFILE" => Some("aws".into()),
        "DEPLOY_ENV" => Some(ENV.into()),
        _ => None,
    })?;
    let aws = settings.aws.context("aws settings")?;
    let store = Arc::new(SecretsManagerCredentials::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        SecretsConfig::from_settings(&aws),
    ));
    let account = AccountId::new("acct_cache");
    store
        .save(
            &account,
            &SikkaCredentials::new(OfficeId::new("D1"), Secret::new("bench-office-secret")),
        )
        .await?;
    // A fresh store, as a new task has: its first load reads the secret.
    let store = Arc::new(SecretsManagerCredentials::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        SecretsConfig::from_settings(&aws),
    ));
    for _ in 0..CREDENTIAL_LOADS / 100 {
        let mut loads = Vec::new();
        for _ in 0..100 {
            let (store, account) = (store.clone(), account.clone());
            loads.push(tokio::spawn(async move { store.load(&account).await }));
        }
        for load in loads {
            if load.await??.is_none() {
                bail!("the practice's credentials were not found");
            }
        }
    }
    let stats = store.stats();
    Ok((stats.gets, stats.describes))
}

/// moto's server on a free loopback port, killed when dropped.
pub(super) struct Moto {
    endpoint: String,
    child: Child,
}

impl Moto {
    fn start(bin: &Path) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("moto did not answer on port {port} within a minute");
            }
            // Polling for the port while moto imports its models; there is no ready signal.
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    pub(super) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
    }

    async fn sdk(&self) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
