//! `cargo xtask audit-verify --env dev [--prefix parlae] [--stream NAME]`: reads the audit trail
//! back from CloudWatch Logs (log group `/<prefix>/<env>/audit`, every stream or one) and checks
//! each stream's hash chain with the gateway's own tolerant verifier
//! (`gateway::audit::streams`). Prints one line per stream and each problem; exits non-zero on a
//! gap or a broken link. Duplicates (a retried batch landed twice) are reported and tolerated.
//! AWS access: the SDK's standard chain (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …).

use anyhow::{Context, Result, bail};
use gateway::aws::audit_streams::AuditStreams;

#[derive(clap::Args)]
pub struct Args {
    /// The deployment environment (`DEPLOY_ENV`), e.g. dev.
    #[arg(long)]
    env: String,
    /// The name prefix (`NAME_PREFIX`).
    #[arg(long, default_value = "parlae")]
    prefix: String,
    /// Only this stream (default: every stream of the group).
    #[arg(long)]
    stream: Option<String>,
}

pub fn audit_verify(args: &Args) -> Result<()> {
    let lookup = |name: &str| match name {
        "NAME_PREFIX" => Some(args.prefix.clone()),
        "DEPLOY_ENV" => Some(args.env.clone()),
        _ => None,
    };
    let root = gateway::aws::settings::env_root(&lookup).map_err(|e| anyhow::anyhow!("{e}"))?;
    let group = format!("{root}/audit");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let broken = runtime.block_on(async {
        let config = gateway::aws::sdk_config().await;
        let streams = AuditStreams::new(aws_sdk_cloudwatchlogs::Client::new(&config), &group);
        let names = match &args.stream {
            Some(name) => vec![name.clone()],
            None => streams.names().await?,
        };
        if names.is_empty() {
            bail!("no streams in the log group {group}");
        }
        let mut broken = 0;
        for name in &names {
            let report = streams
                .check(name)
                .await
                .with_context(|| format!("reading stream {name}"))?;
            let verdict = if report.intact() { "ok" } else { "BROKEN" };
            println!(
                "{group} {name}: {verdict}: {} events, {} entries, {} duplicates",
                report.events,
                report.entries,
                report.duplicates()
            );
            for problem in &report.problems {
                println!("  {problem}");
            }
            if !report.intact() {
                broken += 1;
            }
        }
        Ok(broken)
    })?;
    if broken > 0 {
        bail!("{broken} stream(s) of {group} have gaps or broken links");
    }
    Ok(())
}
