//! The `aws` profile's adapters, on the AWS SDK for Rust with the standard credential chain (the
//! ECS task role in production; `AWS_ENDPOINT_URL` and dummy keys against moto in tests) and the
//! tree's one TLS stack (rustls with aws-lc-rs). No endpoint code of our own. So far: system
//! settings from SSM Parameter Store (`settings.rs`), and the practices and their route table
//! from SSM, refreshed in the background (`practices.rs`), written by operators
//! (`practice_admin.rs`); practices' Sikka credentials in Secrets Manager, cached, merged on write
//! (`secrets/`); the profile's stores built and kept fresh (`profile.rs`); the audit streams read
//! back from CloudWatch Logs for `cargo xtask audit-verify` (`audit_streams.rs`); the audit
//! shipper's CloudWatch Logs destination (`audit_logs.rs`).

pub mod audit_logs;
pub mod audit_streams;
pub mod practice_admin;
pub mod practices;
pub mod profile;
pub mod secrets;
pub mod settings;
pub mod state;

use aws_sdk_ssm::{error::DisplayErrorContext, types::Parameter};

/// Parameter Store could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the SSM parameters under {path}: {detail}")]
pub struct SsmError {
    /// The path asked for, with its trailing slash.
    pub path: String,
    pub detail: String,
}

/// Every parameter under `path`: recursive, decrypted, following every page.
pub async fn parameters_under(
    client: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Vec<Parameter>, SsmError> {
    let mut all = Vec::new();
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| SsmError {
            path: format!("{path}/"),
            detail: DisplayErrorContext(e).to_string(),
        })?;
        all.extend(page.parameters().iter().cloned());
    }
    Ok(all)
}

/// The SDK's shared configuration from the standard chain: region, credentials and endpoint
/// (`AWS_ENDPOINT_URL`) as the environment, profile files or the ECS task provide them.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
