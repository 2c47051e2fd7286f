//! Project automation for the gateway workspace (`cargo xtask <task>`, matklad's pattern).
//! `cargo xtask` with no arguments lists the tasks.

mod audit_verify;
mod bench;
mod ci;
mod conformance;
mod deploy;
mod doctor;
mod gateway;
mod image;
mod openapi;
mod pinned;
mod practice;
mod push;
mod terraform;
mod vapi_sync;
mod venv;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
use xshell::Shell;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Project automation for the practice gateway."
)]
struct Cli {
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Subcommand)]
enum Task {
    /// Write openapi/openapi.json from `gateway openapi` (or, with --check, fail if it is stale).
    Openapi {
        /// Do not write: fail if the committed file differs from what the gateway prints.
        #[arg(long)]
        check: bool,
    },
    /// Write openapi/vapi-tools.json from `gateway vapi-tools`.
    VapiTools {
        /// The public URL Vapi reaches the gateway at, e.g. https://gw.example.com
        #[arg(long)]
        base_url: String,
        /// Vapi's timeout for each tool call, in seconds (the gateway's default when omitted).
        #[arg(long)]
        timeout_seconds: Option<u32>,
        /// The Vapi credential id that signs or authenticates the requests.
        #[arg(long)]
        credential_id: Option<String>,
    },
    /// Everything CI checks: fmt, clippy, openapi --check, the Python tools, tests, OpenAPI
    /// conformance.
    Ci,
    /// The tool suites with the clock pinned at each of the dates and times that go wrong
    /// (weekends, DST changes, year end, leap day, UTC ahead of the practice).
    Pinned,
    /// Only the OpenAPI conformance run (schemathesis against a live gateway).
    Conformance,
    /// Create `target/venv` with the pinned Python tools the checks use (schemathesis, moto),
    /// and `target/checkov-venv` with checkov.
    Venv,
    /// Check terraform/ offline: fmt, init + validate of every module and environment (providers
    /// from the mirror at $TF_PLUGIN_MIRROR, default /opt/tf-plugins), checkov.
    TerraformCheck,
    /// Load-test a release gateway with wrk and print a table of results.
    Bench(bench::Args),
    /// Add, show, list or remove the practices the `aws` profile serves (SSM Parameter Store).
    Practice(Box<practice::PracticeArgs>),
    /// Examine one practice of the `aws` profile: profile and routes, Sikka credentials, the
    /// schedule, the Sikka sync agent, the last write (exit status non-zero when a check fails).
    Doctor(doctor::DoctorArgs),
    /// Check the audit trail's hash chain in CloudWatch Logs, stream by stream: gaps, broken
    /// links and duplicates (exit status non-zero on gaps or broken links).
    AuditVerify(audit_verify::Args),
    /// Build the gateway as a static binary in an OCI image with no base layer (no container
    /// daemon): target/image/oci (layout) and target/image/gateway.oci.tar. Prints the digest.
    Image,
    /// Push the image `cargo xtask image` wrote to a registry (OCI distribution API; ECR hosts
    /// authenticate with GetAuthorizationToken).
    Push(push::Args),
    /// Deploy the gateway: image, push, terraform init/plan/apply with the image's digest, wait
    /// until the ECS service is stable (--plan-only: stop after the plan).
    Deploy(deploy::Args),
    /// Create or update the gateway's tools in the Vapi organisation (key from $VAPI_API_KEY),
    /// matched by function name; --check changes nothing and fails when Vapi differs.
    VapiSync(vapi_sync::Args),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line; no backtrace noise.
            eprintln!("\nerror: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let Some(task) = cli.task else {
        Cli::command().print_help()?;
        return Ok(());
    };
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match task {
        Task::Openapi { check } => openapi::openapi(&sh, check),
        Task::VapiTools {
            base_url,
            timeout_seconds,
            credential_id,
        } => openapi::vapi_tools(&sh, &base_url, timeout_seconds, credential_id.as_deref()),
        Task::Ci => ci::ci(&sh),
        Task::Pinned => pinned::pinned(),
        Task::Conformance => conformance::conformance(&sh),
        Task::Venv => venv::ensure(&sh)
            .and_then(|_| venv::ensure_checkov(&sh))
            .map(drop),
        Task::TerraformCheck => terraform::check(&sh),
        Task::Bench(args) => bench::bench(&sh, &args),
        Task::Practice(args) => practice::practice(*args),
        Task::Doctor(args) => doctor::doctor(args),
        Task::AuditVerify(args) => audit_verify::audit_verify(&args),
        Task::Image => image::image(&sh),
        Task::Push(args) => push::push(&args),
        Task::Deploy(args) => deploy::deploy(&sh, &args),
        Task::VapiSync(args) => vapi_sync::vapi_sync(&args),
    }
}

/// The workspace root (the parent of this crate's directory).
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Cargo's build directory: `$CARGO_TARGET_DIR` if set, else `<root>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => project_root().join(dir),
        _ => project_root().join("target"),
    }
}

/// The cargo that runs us (`$CARGO`), so nested builds use the same toolchain.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Prints a step banner to stderr, so it stands out between the tools' own output.
fn banner(text: &str) {
    eprintln!("\n==> {text}");
}
