//! The doctor on the `aws` profile's stores, for `cargo xtask doctor`: the settings as the
//! gateway reads them (SSM under the backend path, overridden by `env`), the practices from SSM,
//! the credentials from Secrets Manager, the ledger in the state table, the Sikka client from
//! the same `SIKKA_*` settings. AWS is reached through the standard credential chain.

use anyhow::Context;

use super::Doctor;

/// A doctor reading what a gateway with `env` (`PROFILE=aws`, `DEPLOY_ENV`, `NAME_PREFIX`, …)
/// would read.
pub async fn on_aws(env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Doctor> {
    let (settings, _) = crate::aws::settings::load(env)
        .await
        .context("reading the aws profile's settings")?;
    let aws = settings
        .aws
        .as_ref()
        .context("the settings are not the aws profile's (PROFILE=aws)")?;
    let sdk = crate::aws::sdk_config().await;
    let sikka = crate::startup::sikka_client(&settings)?;
    let stores = crate::aws::profile::stores(&settings, aws, &sdk, sikka).await?;
    // One examination: the background refreshers are not needed.
    for refresher in &stores.refreshers {
        refresher.abort();
    }
    Ok(Doctor {
        directory: stores.stores.directory,
        credentials: stores.stores.credentials,
        ledger: stores.stores.state.ledger,
        clock: settings.clock,
        pending_warn: settings.receptionist.doctor_pending_warn,
    })
}
