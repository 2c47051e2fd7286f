//! The Sikka v4 emulator as a process, for `cargo xtask bench`: no added latency, writebacks
//! applied at once, a rate limit nothing reaches. Prints one JSON ready line on stdout with its
//! base URL and the credentials and ids a gateway is bound to it with, then serves until SIGTERM
//! or SIGINT. On SIGUSR1 it prints the requests counted since the last SIGUSR1
//! (`{"message":"sikka emulator counters","requests":{"GET /v4/…":n}}`) and counts afresh.
//!
//! The emulator library binds `127.0.0.1:0`, so the port is always an ephemeral one.

use std::io::Write;
use std::time::Duration;

use gateway_tests::sikka::{SikkaEmulator, SikkaOptions};
use serde_json::json;
use tokio::signal::unix::{SignalKind, signal};

fn say(line: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let options = SikkaOptions {
        writeback_delay: Duration::ZERO,
        rate_limit_per_minute: 1_000_000,
        ..SikkaOptions::default()
    };
    let mut term = signal(SignalKind::terminate())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let sikka = SikkaEmulator::start(options.clone()).await;
    say(json!({
        "message": "sikka emulator ready", "base_url": sikka.base_url(),
        // What a gateway needs to be bound to it (emulator credentials, not secrets).
        "app_id": options.app_id, "app_key": options.app_key, "office_id": options.office_id,
        "secret_key": options.secret_key, "practice_id": options.practice_id, "pms": options.pms,
    }));
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = usr1.recv() => {
                let counters = sikka.knobs().counters();
                sikka.knobs().reset_counters();
                let requests: serde_json::Map<_, _> = counters
                    .requests
                    .iter()
                    .map(|((method, path), n)| (format!("{method} {path}"), json!(n)))
                    .collect();
                say(json!({"message": "sikka emulator counters", "requests": requests}));
            }
        }
    }
    sikka.stop().await;
    Ok(())
}
