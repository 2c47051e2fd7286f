//! `cargo xtask bench`: a release gateway (local profile, HMAC, fsynced audit) under wrk, one
//! scenario at a time, reported as a table (and `bench.json`) with the peak RSS of each; then
//! the Sikka path (`sikka.rs`) and the `aws` profile against moto (`aws.rs`).

mod aws;
mod probe;
mod requests;
mod sikka;
mod state;
mod wrk;

use std::{fs, path::Path};

use anyhow::{Context, Result, bail};
use serde_json::json;
use xshell::{Shell, cmd};

use crate::{
    banner, cargo,
    gateway::{Gateway, TempDir},
    target_dir,
};
use requests::Signer;

/// The HMAC secret of the bench gateway (it only ever listens on 127.0.0.1).
const SECRET: &str = "bench-secret-not-for-production";
/// Above this share of non-2xx responses a scenario fails.
const MAX_NON_2XX: f64 = 0.01;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds of load per scenario.
    #[arg(long, default_value_t = 10)]
    duration: u32,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: u32,
    /// Open connections.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Distinct signed book_appointment requests to cycle through.
    #[arg(long, default_value_t = 3000)]
    bookings: usize,
    /// Offered load of the Sikka path, in calls per second.
    #[arg(long, default_value_t = 1000.0)]
    sikka_rate: f64,
}

struct Row {
    scenario: &'static str,
    outcome: wrk::Outcome,
    peak_rss_kib: Option<u64>,
}

pub fn bench(sh: &Shell, args: &Args) -> Result<()> {
    wrk::ensure_installed(sh)?;
    banner("building the gateway (cargo build --release -p gateway)");
    let cargo = cargo();
    cmd!(sh, "{cargo} build --release -p gateway").run()?;
    let binary = target_dir().join("release/gateway");

    let scratch = TempDir::new("xtask-bench")?;
    let audit_dir = scratch.path().join("audit");
    let env = [
        ("PROFILE", "local".to_owned()),
        ("GATEWAY_NOW", requests::NOW.to_owned()),
        // The secret-header mode: a signed request is accepted once (replays are refused), and
        // wrk sends each prepared request many times. Requests carry both, so a switch back to
        // hmac needs only this line (and fresh signatures per request).
        ("VAPI_AUTH_MODE", "secret".to_owned()),
        ("VAPI_WEBHOOK_SECRET", SECRET.to_owned()),
        ("SANDBOX_WRITE_DELAY_MS", "0".to_owned()),
        ("AUDIT_FSYNC", "true".to_owned()),
        ("AUDIT_DIR", audit_dir.display().to_string()),
        // warn, but keep the ready line (logged at info by gateway::startup).
        ("RUST_LOG", "warn,gateway::startup=info".to_owned()),
    ];
    let gateway = Gateway::start(&binary, &env, &scratch.path().join("gateway.log"))?;
    banner(&format!(
        "gateway ready at {} (pid {})",
        gateway.address,
        gateway.pid()
    ));

    let signer = Signer::now(SECRET);
    let availability = signer.sign(requests::check_availability());
    let bookings: Vec<_> = requests::book_appointments(args.bookings)
        .into_iter()
        .map(|b| signer.sign(b))
        .collect();
    const AVAILABILITY: &str = "/vapi/tools/check_availability";
    const BOOK: &str = "/vapi/tools/book_appointment";

    banner("sanity check: one request of each kind");
    probe::get(&gateway.address, "/healthz")?;
    eprintln!("GET /healthz: 200");
    let first = probe::tool_call(&gateway.address, AVAILABILITY, &signer, &availability)?;
    eprintln!("POST {AVAILABILITY}: 200, first result {first}");
    let first = probe::tool_call(&gateway.address, BOOK, &signer, &bookings[0])?;
    eprintln!("POST {BOOK}: 200, first result {first}");

    let scripts = [
        ("healthz", "/healthz", wrk::plain_script()),
        (
            "check_availability",
            AVAILABILITY,
            wrk::static_post_script(&signer, &availability),
        ),
        (
            "book_appointment",
            BOOK,
            wrk::cycling_post_script(BOOK, &signer, &bookings, args.threads),
        ),
    ];
    let mut rows = Vec::new();
    for (scenario, path, lua) in scripts {
        banner(&format!(
            "{scenario}: wrk -t{} -c{} -d{}s",
            args.threads, args.connections, args.duration
        ));
        let script = scratch.path().join(format!("{scenario}.lua"));
        fs::write(&script, lua)?;
        let peak_reset = reset_peak_rss(gateway.pid());
        let url = format!("{}{path}", gateway.address);
        let outcome = wrk::run(
            sh,
            &url,
            &script,
            args.threads,
            args.connections,
            args.duration,
        )?;
        let peak = peak_rss_kib(gateway.pid());
        if !peak_reset {
            eprintln!("note: could not reset the peak RSS; it is the peak since start");
        }
        rows.push(Row {
            scenario,
            outcome,
            peak_rss_kib: peak,
        });
    }

    let pid = gateway.pid();
    let status = gateway.stop()?;
    banner(&format!("gateway (pid {pid}) stopped: {status}"));

    let sikka = sikka::run(sh, args.duration, args.threads, args.sikka_rate, &binary)?;
    let aws = aws::run(sh, args.duration, args.threads, args.connections, &binary)?;

    print_table(&rows);
    sikka::print_table(&sikka);
    aws::print(&aws);
    let mut more = sikka::report(&sikka);
    more.extend(aws::report(&aws));
    write_report(&rows, more)?;
    audit_summary(sh, &binary, &audit_dir)?;
    let mut errors = sikka::errors(&sikka, MAX_NON_2XX);
    errors.extend(aws::errors(&aws, MAX_NON_2XX));
    check_errors(&rows, errors)
}

/// Resets the process's peak RSS (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0).
fn reset_peak_rss(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// `VmHWM` (peak resident set) from `/proc/PID/status`, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<20} {:>10} {:>10} {:>10} {:>13} {:>9} {:>11}",
        "scenario", "req/s", "p50", "p99", "socket errs", "non-2xx", "peak RSS"
    );
    for Row {
        scenario,
        outcome: o,
        peak_rss_kib,
    } in rows
    {
        let rss = peak_rss_kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        println!(
            "{scenario:<20} {:>10.0} {:>10} {:>10} {:>13} {:>9} {rss:>11}",
            o.requests_per_second(),
            millis(o.p50_us),
            millis(o.p99_us),
            o.socket_errors,
            o.non_2xx,
        );
    }
}

fn millis(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// `<target>/bench/bench.json`: the same numbers, for scripts and comparisons between runs;
/// `more` (the Sikka path's entries) after the scenarios'.
fn write_report(rows: &[Row], more: Vec<serde_json::Value>) -> Result<()> {
    let report: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "scenario": r.scenario,
                "requests": r.outcome.requests,
                "requests_per_second": r.outcome.requests_per_second(),
                "p50_us": r.outcome.p50_us,
                "p99_us": r.outcome.p99_us,
                "max_us": r.outcome.max_us,
                "socket_errors": r.outcome.socket_errors,
                "non_2xx": r.outcome.non_2xx,
                "peak_rss_kib": r.peak_rss_kib,
            })
        })
        .chain(more)
        .collect();
    let dir = target_dir().join("bench");
    fs::create_dir_all(&dir)?;
    let path = dir.join("bench.json");
    fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("\nreport: {}", path.display());
    Ok(())
}

/// Counts the audit trail's entries (every segment the spool rotated into, and the active file)
/// and checks its hash chain across them with `gateway audit-verify`.
fn audit_summary(sh: &Shell, binary: &Path, dir: &Path) -> Result<()> {
    let mut entries = 0;
    for file in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = file?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let text = fs::read_to_string(&path)
                .with_context(|| format!("reading the audit spool {}", path.display()))?;
            entries += text
                .split('\0')
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .count();
        }
    }
    println!("audit trail: {entries} entries written");
    let verdict = cmd!(sh, "{binary} audit-verify {dir}")
        .ignore_status()
        .output()?;
    let says = String::from_utf8_lossy(if verdict.status.success() {
        &verdict.stdout
    } else {
        &verdict.stderr
    });
    println!("audit-verify: {}", says.trim());
    if !verdict.status.success() {
        bail!("the audit spool's hash chain did not verify");
    }
    Ok(())
}

fn check_errors(rows: &[Row], more: Vec<String>) -> Result<()> {
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.outcome.requests == 0
                || r.outcome.non_2xx as f64 > MAX_NON_2XX * r.outcome.requests as f64
        })
        .map(|r| {
            format!(
                "{} ({} of {} non-2xx)",
                r.scenario, r.outcome.non_2xx, r.outcome.requests
            )
        })
        .chain(more)
        .collect();
    if !bad.is_empty() {
        bail!(
            "more than {:.0}% non-2xx responses (or no requests): {}",
            MAX_NON_2XX * 100.0,
            bad.join(", ")
        );
    }
    Ok(())
}
