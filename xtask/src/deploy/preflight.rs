//! What a deploy checks before anything long: the environment's backend and variables files,
//! and that AWS credentials work (STS `GetCallerIdentity`), each failure naming what to do.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use aws_sdk_sts::error::DisplayErrorContext;

use super::Env;

/// Checks `dir`'s files; returns whether the deploy keeps local state (only `local` may).
pub fn environment_files(dir: &Path, env: Env, var_files: &[PathBuf]) -> Result<bool> {
    let name = env.name();
    if !dir.join("main.tf").is_file() {
        bail!("terraform/environments/{name} has no main.tf: is this the project's checkout?");
    }
    let backend = dir.join("backend.tf");
    let local_state = match (env, backend.is_file()) {
        (_, true) => {
            refuse_placeholders(&backend, name)?;
            false
        }
        (Env::Local, false) => true,
        (_, false) => bail!(
            "terraform/environments/{name} has no backend: copy backend.tf.example to backend.tf \
             and fill in your state bucket and lock table (a deploy's state must outlive the \
             machine it ran on; see README \"Deploy\")"
        ),
    };
    let tfvars = dir.join("terraform.tfvars");
    if tfvars.is_file() {
        refuse_placeholders(&tfvars, name)?;
    } else if dir.join("terraform.tfvars.example").is_file() && var_files.is_empty() {
        bail!(
            "terraform/environments/{name} has no terraform.tfvars: copy terraform.tfvars.example \
             to terraform.tfvars and fill it in (or pass --var-file)"
        );
    }
    for file in var_files {
        if !file.is_file() {
            bail!("--var-file {} does not exist", file.display());
        }
    }
    Ok(local_state)
}

fn refuse_placeholders(file: &Path, env: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("REPLACE-ME") && !l.trim_start().starts_with('#'))
        .map(|(n, _)| (n + 1).to_string())
        .collect();
    if !lines.is_empty() {
        bail!(
            "terraform/environments/{env}/{} still holds REPLACE-ME placeholders (lines {}): fill \
             them in",
            file.file_name().unwrap_or_default().to_string_lossy(),
            lines.join(", ")
        );
    }
    Ok(())
}

/// The account and identity the standard AWS chain gives, or an error saying how to fix it.
pub async fn caller_identity() -> Result<String> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let call = aws_sdk_sts::Client::new(&config)
        .get_caller_identity()
        .send();
    let out = tokio::time::timeout(std::time::Duration::from_secs(30), call)
        .await
        .context("STS GetCallerIdentity did not answer within 30 s: is the network up?")?
        .map_err(|e| {
            anyhow::anyhow!(
                "AWS credentials are missing or invalid (STS GetCallerIdentity: {}): configure \
                 them before deploying (AWS_PROFILE with `aws sso login`, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or in GitHub Actions the OIDC role of \
                 aws-actions/configure-aws-credentials), and AWS_REGION",
                DisplayErrorContext(e)
            )
        })?;
    Ok(format!(
        "{} as {}",
        out.account().unwrap_or("?"),
        out.arn().unwrap_or("?")
    ))
}
