//! The OpenAPI conformance run: schemathesis (pinned, in `target/venv`: see `venv.rs`) fuzzes a
//! live gateway from its own `/openapi.json` with every check on, bounded in examples and time.

use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{
    banner, cargo,
    gateway::{Gateway, TempDir, random_secret},
    target_dir,
};

/// Test cases per API operation and phase (was 50): about 8,700 cases over the 18 operations,
/// which keeps the whole step (venv, build, run) under three minutes on a 2-core machine.
const MAX_EXAMPLES: &str = "150";
/// A fixed seed, so a failure reproduces.
const SEED: &str = "20250101";
/// The whole run is stopped (and failed) after this long.
const RUN_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub fn conformance(sh: &Shell) -> Result<()> {
    let venv = crate::venv::ensure(sh)?;
    let schemathesis = venv.join("bin/schemathesis");

    banner("building the gateway (cargo build -p gateway)");
    let cargo = cargo();
    cmd!(sh, "{cargo} build -p gateway").run()?;
    let binary = target_dir().join("debug/gateway");

    let scratch = TempDir::new("xtask-conformance")?;
    let secret = random_secret()?;
    // A user pool with no keys, so the admin routes are configured (they answer 401 to
    // schemathesis, not 503) and no token it makes up verifies.
    let pool = UserPool::start(&venv.join("bin/python"), &scratch.path().join("pool"))?;
    let env = [
        ("VAPI_AUTH_MODE", "bearer".to_owned()),
        ("VAPI_WEBHOOK_SECRET", secret.clone()),
        (
            "AUDIT_DIR",
            scratch.path().join("audit").display().to_string(),
        ),
        ("SANDBOX_WRITE_DELAY_MS", "0".to_owned()),
        // Configured (so the Sikka routes answer 401 to schemathesis, not 503) but never sent.
        ("SIKKA_CALLBACK_KEY", random_secret()?),
        ("SIKKA_MARKETPLACE_SECRET", random_secret()?),
        ("COGNITO_ISSUER", pool.issuer.clone()),
        ("COGNITO_CLIENT_ID", "conformance".to_owned()),
        // Texting configured (so `/twilio/inbound` checks signatures: 403, not 503); nothing is
        // ever texted (no patient consents), and the API root is a closed port.
        ("TWILIO_ACCOUNT_SID", format!("AC{}", "0".repeat(32))),
        ("TWILIO_AUTH_TOKEN", random_secret()?),
        (
            "TWILIO_MESSAGING_SERVICE_SID",
            format!("MG{}", "0".repeat(32)),
        ),
        ("TWILIO_API_BASE_URL", "http://127.0.0.1:9".to_owned()),
    ];
    let gateway = Gateway::start(&binary, &env, &scratch.path().join("gateway.log"))?;
    banner(&format!(
        "gateway ready at {} (pid {})",
        gateway.address,
        gateway.pid()
    ));

    let schema = format!("{}/openapi.json", gateway.address);
    let auth = format!("Authorization: Bearer {secret}");
    let args = [
        "run",
        &schema,
        "--checks",
        "all",
        "-H",
        &auth,
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        // We send the real credential (-H above); random values for the other schemes (HMAC,
        // x-vapi-secret) next to it prove nothing and make `ignored_auth` misfire. That check
        // still runs: it drops our header and expects 401.
        "--generation-with-security-parameters",
        "false",
        "--no-color",
    ];
    eprintln!(
        "schemathesis {}",
        args.join(" ").replace(&secret, "<secret>")
    );
    let outcome = run_bounded(
        Command::new(&schemathesis)
            .args(args)
            .current_dir(sh.current_dir()),
    );

    let stopped = gateway.stop()?;
    eprintln!("gateway stopped ({stopped})");
    let status = outcome?;
    if !status.success() {
        bail!("schemathesis found problems ({status}); see its report above");
    }
    Ok(())
}

/// Runs a command to completion, killing it after `RUN_TIMEOUT`.
/// A Cognito user pool's JWKS (an empty key set) served by Python's `http.server` on a free
/// loopback port; stopped when dropped.
struct UserPool {
    issuer: String,
    server: std::process::Child,
}

impl UserPool {
    fn start(python: &std::path::Path, dir: &std::path::Path) -> Result<Self> {
        let keys = dir.join("us-east-1_conformance/.well-known");
        std::fs::create_dir_all(&keys)?;
        std::fs::write(keys.join("jwks.json"), r#"{"keys": []}"#)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let server = Command::new(python)
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--directory")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting the user pool's JWKS server (python -m http.server)")?;
        let pool = Self {
            issuer: format!("http://127.0.0.1:{port}/us-east-1_conformance"),
            server,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("the JWKS server did not listen on port {port} within 30 s");
            }
            // Polling for the port; http.server has no ready signal.
            thread::sleep(Duration::from_millis(50));
        }
        Ok(pool)
    }
}

impl Drop for UserPool {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn run_bounded(command: &mut Command) -> Result<std::process::ExitStatus> {
    let mut child = command.spawn().context("starting schemathesis")?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            bail!("schemathesis did not finish within {RUN_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(200));
    }
}
