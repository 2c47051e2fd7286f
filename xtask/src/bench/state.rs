//! The shared state's cost on the `aws` profile (DynamoDB in moto on loopback): how many
//! DynamoDB requests an availability read and a booking cost (the gateway's own
//! `DynamoDbRequests` and `ToolCalls` EMF totals, over calls made one at a time), and booking
//! throughput and latency with the DynamoDB-backed ledger under wrk, next to the local
//! profile's in-memory one in the main table.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use xshell::Shell;

use super::{SECRET, aws::Moto, probe, requests, requests::Signer, wrk};
use crate::{banner, gateway::Gateway};

/// Calls of each kind made one at a time for the per-call counts.
const COUNTED: usize = 50;

pub struct StateMeasured {
    /// DynamoDB requests per `check_availability`.
    pub availability_requests: f64,
    /// DynamoDB requests per `book_appointment` (a first booking, confirmed).
    pub booking_requests: f64,
    /// `book_appointment` under wrk on the aws profile.
    pub booking: wrk::Outcome,
}

/// The state table as `terraform/modules/state` makes it (`pk`/`sk`, on demand).
pub async fn create_table(sdk: &aws_config::SdkConfig, name: &str) -> Result<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await
        .context("creating the state table")?;
    Ok(())
}

/// `(threads, connections, seconds)` of the wrk run.
type Load = (u32, u32, u32);

pub fn run(
    sh: &Shell,
    moto: &Moto,
    binary: &Path,
    scratch: &Path,
    (threads, connections, seconds): Load,
    date: &str,
) -> Result<StateMeasured> {
    let mut env = moto.env();
    env.extend([
        ("PROFILE", "aws".to_owned()),
        ("DEPLOY_ENV", "bench".to_owned()),
        ("VAPI_AUTH_MODE", "secret".to_owned()),
        ("VAPI_WEBHOOK_SECRET", SECRET.to_owned()),
        ("SANDBOX_WRITE_DELAY_MS", "0".to_owned()),
        ("AUDIT_FSYNC", "true".to_owned()),
        (
            "AUDIT_DIR",
            scratch.join("audit-state").display().to_string(),
        ),
        ("METRICS_INTERVAL_SECONDS", "1".to_owned()),
        ("RUST_LOG", "warn,gateway::startup=info".to_owned()),
    ]);
    let log = scratch.join("gateway-state.log");
    let gateway = Gateway::start(binary, &env, &log)?;
    let signer = Signer::now(SECRET);
    // The aws profile runs on the system clock: bookings from today on.
    let today = gateway::clock::Clock::system().now().as_second() / 86_400;
    let mut bookings = requests::book_appointments_from(COUNTED + 4000, today)
        .into_iter()
        .map(|b| signer.sign(b));
    let availability = signer.sign(requests::check_availability_on(date));

    banner(&format!(
        "shared state: {COUNTED} availability reads, then {COUNTED} bookings, one at a time"
    ));
    for _ in 0..COUNTED {
        probe::tool_call(&gateway.address, AVAILABILITY, &signer, &availability)?;
    }
    let after_reads = wait_for_calls(&log, COUNTED as f64)?;
    for booking in bookings.by_ref().take(COUNTED) {
        probe::tool_call(&gateway.address, BOOK, &signer, &booking)?;
    }
    let after_bookings = wait_for_calls(&log, 2.0 * COUNTED as f64)?;

    let rest: Vec<_> = bookings.collect();
    banner(&format!(
        "aws book_appointment: wrk -t{threads} -c{connections} -d{seconds}s"
    ));
    let script = scratch.join("aws-book.lua");
    std::fs::write(
        &script,
        wrk::cycling_post_script(BOOK, &signer, &rest, threads),
    )?;
    let url = format!("{}{BOOK}", gateway.address);
    let booking = wrk::run(sh, &url, &script, threads, connections, seconds)?;
    gateway.stop()?;
    Ok(StateMeasured {
        availability_requests: after_reads / COUNTED as f64,
        booking_requests: (after_bookings - after_reads) / COUNTED as f64,
        booking,
    })
}

const AVAILABILITY: &str = "/vapi/tools/check_availability";
const BOOK: &str = "/vapi/tools/book_appointment";

/// The gateway's `DynamoDbRequests` total once its EMF lines count `calls` tool calls.
fn wait_for_calls(log: &Path, calls: f64) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (counted, requests) = totals(log)?;
        if counted >= calls {
            return Ok(requests);
        }
        if Instant::now() > deadline {
            bail!("the gateway's metrics counted {counted} of {calls} tool calls");
        }
        // The metrics are written once a second; there is nothing to wait on but the file.
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `ToolCalls` and `DynamoDbRequests`, summed over the EMF lines written so far.
fn totals(log: &Path) -> Result<(f64, f64)> {
    let text = std::fs::read_to_string(log)?;
    let docs = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.get("_aws").is_some());
    Ok(docs.fold((0.0, 0.0), |(calls, requests), d| {
        (
            calls + d["ToolCalls"].as_f64().unwrap_or(0.0),
            requests + d["DynamoDbRequests"].as_f64().unwrap_or(0.0),
        )
    }))
}

pub fn print(m: &StateMeasured) {
    println!(
        "shared state (DynamoDB on moto): {:.2} requests per check_availability, {:.2} per book_appointment",
        m.availability_requests, m.booking_requests
    );
    println!(
        "aws book_appointment (DynamoDB ledger): {:.0} req/s, p50 {}, p99 {}, {} non-2xx",
        m.booking.requests_per_second(),
        super::millis(m.booking.p50_us),
        super::millis(m.booking.p99_us),
        m.booking.non_2xx
    );
}

pub fn report(m: &StateMeasured) -> Vec<Value> {
    vec![
        serde_json::json!({
            "scenario": "aws shared state cost",
            "dynamodb_requests_per_check_availability": m.availability_requests,
            "dynamodb_requests_per_book_appointment": m.booking_requests,
        }),
        serde_json::json!({
            "scenario": "aws book_appointment (DynamoDB ledger)",
            "requests": m.booking.requests,
            "requests_per_second": m.booking.requests_per_second(),
            "p50_us": m.booking.p50_us,
            "p99_us": m.booking.p99_us,
            "non_2xx": m.booking.non_2xx,
        }),
    ]
}
