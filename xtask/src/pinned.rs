//! `cargo xtask pinned`: the tool suites (sandbox and Sikka backends) with the gateway's clock
//! pinned at instants where dates and times go wrong — the start and end of a working week, a
//! weekend, both DST changes in the practice's zone (Los Angeles), a year end, a leap day and an
//! evening when UTC is already tomorrow. Each instant is its own test run (the tests and every
//! gateway they start read `GATEWAY_NOW`); a few run at once, on the one build the main test
//! step made.

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    thread,
};

use anyhow::{Result, bail};

use crate::cargo;

/// The instants, each with why it is there. Zone-qualified where the wall time is ambiguous.
pub const INSTANTS: &[(&str, &str)] = &[
    ("2027-03-01T07:55:00-08:00", "Monday 07:55, before opening"),
    (
        "2027-03-05T16:58:00-08:00",
        "Friday 16:58, two minutes to closing",
    ),
    ("2027-03-06T11:00:00-08:00", "Saturday"),
    ("2027-03-07T10:00:00-08:00", "Sunday (closed)"),
    (
        "2027-03-13T12:00:00-08:00",
        "the day before the spring DST change",
    ),
    (
        "2027-03-14T01:59:00-08:00",
        "a minute before the spring gap",
    ),
    (
        "2027-03-15T08:30:00-07:00",
        "the day after the spring DST change",
    ),
    (
        "2027-11-06T12:00:00-07:00",
        "the day before the autumn DST change",
    ),
    (
        "2027-11-07T01:30:00-07:00[America/Los_Angeles]",
        "01:30, first time round (PDT)",
    ),
    (
        "2027-11-07T01:30:00-08:00[America/Los_Angeles]",
        "01:30, second time round (PST)",
    ),
    (
        "2027-11-08T08:30:00-08:00",
        "the day after the autumn DST change",
    ),
    ("2027-12-31T23:50:00-08:00", "ten minutes to the new year"),
    ("2028-02-29T10:00:00-08:00", "a leap day"),
    (
        "2027-06-15T17:30:00-07:00",
        "an evening when UTC is already the next day",
    ),
];

/// The suites that depend on the date: every tool scenario on both backends, the gateway in
/// front of a misbehaving Sikka, privacy, lifecycle, schedules, caller id, the front desk (its
/// opening hours) and texts (the day and the zone's abbreviation they say).
const SUITES: &[&str] = &[
    "tools",
    "sikka_gateway",
    "privacy",
    "lifecycle",
    "schedules",
    "caller_id",
    "front_desk",
    "texts",
];

/// Runs at once (each run's tests already run in parallel; more mostly waits on the CPU).
const AT_ONCE: usize = 3;

pub fn pinned() -> Result<()> {
    let nextest = Command::new(cargo())
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let queue = Arc::new(Mutex::new(INSTANTS.iter().rev().collect::<Vec<_>>()));
    let failed: Arc<Mutex<Vec<String>>> = Arc::default();
    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let (queue, failed) = (queue.clone(), failed.clone());
            thread::spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((instant, why)) = next else { break };
                    let outcome = run_at(instant, nextest);
                    let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                    match outcome {
                        Ok(summary) => eprintln!("  ok    {instant}  ({why}): {summary}"),
                        Err(output) => {
                            eprintln!("  FAIL  {instant}  ({why})\n{output}");
                            failed.push(format!("{instant} ({why})"));
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let failed = failed.lock().unwrap_or_else(|e| e.into_inner());
    if !failed.is_empty() {
        bail!(
            "the tool suites failed with the clock pinned at: {}",
            failed.join(", ")
        );
    }
    Ok(())
}

/// One run with the clock at `instant`: its summary line, or its whole output on failure.
fn run_at(instant: &str, nextest: bool) -> Result<String, String> {
    let mut cmd = Command::new(cargo());
    if nextest {
        let filter = SUITES
            .iter()
            .map(|t| format!("binary({t})"))
            .collect::<Vec<_>>()
            .join(" | ");
        cmd.args([
            "nextest",
            "run",
            "-p",
            "gateway-tests",
            "--no-fail-fast",
            "--status-level",
            "fail",
            "-E",
            &filter,
        ]);
    } else {
        cmd.args(["test", "-p", "gateway-tests", "--no-fail-fast"]);
        for t in SUITES {
            cmd.args(["--test", t]);
        }
    }
    cmd.env("GATEWAY_NOW", instant);
    let output = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        let summary = text
            .lines()
            .rev()
            .find(|l| l.contains("Summary") || l.starts_with("test result"))
            .unwrap_or("passed")
            .trim()
            .to_owned();
        Ok(summary)
    } else {
        Err(text)
    }
}
