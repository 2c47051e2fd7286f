//! The gateway binary: serve (the default), or print the OpenAPI document, the Vapi tool
//! definitions made from it, or the verdict on an audit spool's hash chain.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

/// Tool calls allocate many small, short-lived values (JSON, answers, audit lines); mimalloc
/// serves them cheaper than glibc's allocator under concurrency. Built without transparent huge
/// pages (`no_thp`), which otherwise inflate the resident set by ~20 MiB.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use gateway::{audit, config::Settings, startup::Application, telemetry, vapi};

#[derive(Parser)]
#[command(
    version,
    about = "The practice gateway: Vapi tool calls in, the practice's PMS out, every access audited."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway (the default). Settings come from environment variables (see README).
    Serve,
    /// Print the OpenAPI document.
    Openapi,
    /// Print the Vapi tool definitions (CreateFunctionToolDTO) made from the OpenAPI document.
    VapiTools {
        /// The public URL Vapi reaches the gateway at, e.g. https://gw.example.com
        #[arg(long)]
        base_url: String,
        /// Vapi's timeout for each tool call, in seconds.
        #[arg(long, default_value_t = 20)]
        timeout_seconds: u32,
        /// The Vapi credential id that signs or authenticates the requests.
        #[arg(long)]
        credential_id: Option<String>,
    },
    /// Check an audit trail's hash chain end to end, across its segments.
    AuditVerify {
        /// The audit directory (its numbered segments in order, then audit.jsonl), or segment
        /// files in chain order.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::Openapi => {
            print!("{}", gateway::api::spec());
            ExitCode::SUCCESS
        }
        Command::VapiTools {
            base_url,
            timeout_seconds,
            credential_id,
        } => {
            let doc: serde_json::Value =
                serde_json::from_str(&gateway::api::spec()).expect("the spec is JSON");
            let options = vapi::tooldefs::ExportOptions {
                base_url,
                timeout_seconds,
                credential_id,
            };
            match vapi::tooldefs::export_all(&doc, &options) {
                Ok(tools) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&tools).expect("serialisable")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::AuditVerify { paths } => match audit::segments::verify_paths(&paths) {
            Ok(summary) => {
                println!(
                    "ok: {} entries, chain intact, last hash {}",
                    summary.entries, summary.last_hash
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("audit chain broken: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // On the aws profile the settings come from SSM Parameter Store, overridden by the
    // environment; elsewhere from the environment alone.
    let env = |name: &str| std::env::var(name).ok();
    let loaded = if env("PROFILE").as_deref() == Some("aws") {
        runtime
            .block_on(gateway::aws::settings::load(&env))
            .map(|(settings, loaded)| (settings, Some(loaded)))
            .map_err(|e| e.to_string())
    } else {
        Settings::from_env()
            .map(|settings| (settings, None))
            .map_err(|e| e.to_string())
    };
    let (settings, from_ssm) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.json_logs);
    if let Some(from_ssm) = &from_ssm {
        from_ssm.log(&settings);
    }
    let result = runtime.block_on(async {
        let app = Application::build(settings).await?;
        app.serve().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gateway stopped");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
