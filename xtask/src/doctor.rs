//! `cargo xtask doctor --env dev --account ACCT [--prefix parlae] [--json]`: the practice doctor
//! (`gateway::doctor`) run in-process on the `aws` profile's stores, as a gateway of that
//! environment reads them (settings from SSM under `/<prefix>/<env>/backend`, overridden by the
//! environment; AWS through the standard credential chain, `AWS_ENDPOINT_URL` for an emulator).
//! Prints one line per check — verdict, check, what was found, and "→ next step" — or with
//! `--json` the report; exits non-zero when any check failed.

use anyhow::{Result, bail};
use clap::Args;
use gateway::doctor::{Report, Verdict};
use gateway::pms::AccountId;

#[derive(Args)]
pub struct DoctorArgs {
    /// The deployment environment (`DEPLOY_ENV`), e.g. dev.
    #[arg(long)]
    env: Option<String>,
    /// The name prefix (`NAME_PREFIX`).
    #[arg(long, default_value = "parlae")]
    prefix: String,
    /// The practice's account id.
    #[arg(long)]
    account: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn doctor(args: DoctorArgs) -> Result<()> {
    let Some(env) = args.env.clone() else {
        bail!("--env is required: the deployment environment, e.g. --env dev");
    };
    let lookup = |name: &str| match name {
        "PROFILE" => Some("aws".to_owned()),
        "NAME_PREFIX" => Some(args.prefix.clone()),
        "DEPLOY_ENV" => Some(env.clone()),
        other => std::env::var(other).ok(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        let doctor = gateway::doctor::aws::on_aws(&lookup).await?;
        anyhow::Ok(doctor.examine(&AccountId::new(args.account.clone())).await)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", lines(&report));
    }
    if report.failed() {
        bail!("practice {}: a check failed", report.account_id);
    }
    Ok(())
}

/// One line per check, then the overall verdict.
fn lines(report: &Report) -> String {
    let mut out = String::new();
    for c in &report.checks {
        out.push_str(&format!(
            "{:<8} {:<12} {}\n",
            c.verdict.as_str(),
            c.check,
            c.detail
        ));
        if let Some(step) = &c.next_step {
            out.push_str(&format!("{:<21} → {step}\n", ""));
        }
    }
    let overall = match report.verdict {
        Verdict::Ok | Verdict::Skipped => "healthy",
        Verdict::Warning => "working, with warnings",
        Verdict::Failed => "NOT healthy",
    };
    out.push_str(&format!(
        "practice {}: {overall} ({})\n",
        report.account_id, report.checked_at
    ));
    out
}
