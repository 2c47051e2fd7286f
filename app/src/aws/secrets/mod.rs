//! Practices' Sikka credentials in AWS Secrets Manager: [`SecretsManagerCredentials`], the `aws`
//! profile's [`CredentialStore`], with a cache in front; and [`read_secret_string`] for the
//! practices' own Vapi secret references (`vapi_secret_ref` in `aws/practices.rs`).
//!
//! **Names and values.** One secret per practice, `<prefix>/pms/sikka/<account_id>`
//! ([`SecretsConfig::name_prefix`], from `AwsSettings::practice_secrets_prefix`), holding the same
//! JSON record the local credentials file keeps per account (`office_id`, `secret_key`,
//! `request_key`, `refresh_key`, `expires_at`, `revoked`, and any field the gateway does not know,
//! which is kept). A value that is not such a record is `StoreError::Corrupt`; the error and the
//! log name the secret and the offending field, never the value.
//!
//! **Writes** ([`CredentialStore::save`]). The first save creates the secret (`CreateSecret`,
//! encrypted with `SECRETS_KMS_KEY_ID` when set, tagged `managed-by=practice-gateway`,
//! `account-id`, `environment`). Later saves read the current value and its version
//! (`GetSecretValue`), merge (see `merge.rs`), write a new version under a staging label of
//! ours (`PutSecretValue`, its `ClientRequestToken` a fresh UUID that becomes the version id, so
//! an SDK retry of the same put is the same version), then make it current with a
//! compare-and-swap: `UpdateSecretVersionStage` moves `AWSCURRENT` *from the version we read*,
//! which Secrets Manager refuses when another task's version became current in between. Then
//! the winner is re-read and our change merged into it again, up to [`MAX_WRITE_ATTEMPTS`]
//! times; a conflict that persists is `StoreError::Unavailable`. So no update is lost.
//!
//! **Quota.** A save costs one `GetSecretValue` and two writes (`PutSecretValue`,
//! `UpdateSecretVersionStage`), or one `CreateSecret`. Saves happen at onboarding, at a
//! revocation, and when a practice's request key is renewed (about once a day per practice):
//! 1,000 practices make about 2,000 writes a day (0.02/s), far under Secrets Manager's 50
//! writes/s per account; reads are cached, below.
//!
//! **The cache.** Per account, for [`SecretsConfig::ttl`] (`CREDENTIALS_CACHE_SECONDS`, 300 s by
//! default, measured on `Instant`): within it a load is answered from memory. After it,
//! `DescribeSecret` first; `GetSecretValue` only if the `AWSCURRENT` version changed. One fetch
//! per account however many loads wait (a per-account async mutex, in a bounded moka cache). On
//! a transient error (throttling, 5xx, timeout, connection failure) a cached value is served
//! stale, counted, logged once per episode per account, and Secrets Manager asked again after
//! [`STALE_RETRY`]; with nothing cached the load is `StoreError::Unavailable`. An unknown
//! practice is remembered as such for [`NEGATIVE_TTL`]. A save replaces the entry with what it
//! wrote. [`SecretsManagerCredentials::stats`] counts calls and cache outcomes.
//!
//! **Wiring** (the lead's): `SecretsManagerCredentials::new(aws_sdk_secretsmanager::Client::new(
//! &sdk_config), SecretsConfig::from_settings(&aws_settings))`, in an `Arc`, as the
//! `LocalOptions::credentials` of the practices; `read_secret_string(&client, reference)` for
//! each `SsmDirectory::vapi_secret_refs` entry.

mod cache;
mod merge;
mod sdk;

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use aws_sdk_secretsmanager::{Client, types::Tag};

use crate::config::AwsSettings;
use crate::pms::AccountId;
use crate::pms::sikka::{CredentialStore, SikkaCredentials, StoreError};
use cache::{Cached, Entry, Slot};
use sdk::{Failure, Sm};

pub use sdk::{SecretReadError, read_secret_string};

/// How long an unknown practice is remembered as unknown.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(30);
/// While Secrets Manager fails transiently, how often a load behind a stale value tries again.
pub const STALE_RETRY: Duration = Duration::from_secs(5);
/// Read-merge-write rounds of one save before a persisting conflict is an error.
pub const MAX_WRITE_ATTEMPTS: usize = 5;
/// Accounts whose cache entry is kept (far above any deployment's practices).
const MAX_ACCOUNTS: u64 = 100_000;

/// Where the secrets are and how long they are cached.
#[derive(Debug, Clone)]
pub struct SecretsConfig {
    /// `parlae/dev/pms/sikka/`: a practice's secret is this followed by its account id.
    pub name_prefix: String,
    /// The `environment` tag of created secrets (`dev`).
    pub environment: String,
    pub ttl: Duration,
    /// The KMS key created secrets are encrypted with; the account's default when `None`.
    pub kms_key_id: Option<String>,
}

impl SecretsConfig {
    pub fn from_settings(settings: &AwsSettings) -> Self {
        Self {
            name_prefix: settings.practice_secrets_prefix(),
            environment: settings.environment().to_owned(),
            ttl: settings.credentials_ttl,
            kms_key_id: settings.secrets_kms_key.clone(),
        }
    }
}

/// Calls made to Secrets Manager and how loads were answered, since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecretsStats {
    pub gets: u64,
    pub describes: u64,
    pub puts: u64,
    pub creates: u64,
    /// `UpdateSecretVersionStage` calls (one per put).
    pub stage_moves: u64,
    /// Loads answered from memory, without a call.
    pub hits: u64,
    /// Loads that called Secrets Manager.
    pub misses: u64,
    /// Loads answered with a cached value because Secrets Manager failed transiently.
    pub stale_served: u64,
    /// Writes that lost a race to another task's and were merged again.
    pub conflicts: u64,
}

/// Practices' Sikka credentials in Secrets Manager, cached (see the module doc).
pub struct SecretsManagerCredentials {
    sm: Sm,
    config: SecretsConfig,
    slots: moka::sync::Cache<AccountId, Slot>,
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    conflicts: AtomicU64,
}

impl SecretsManagerCredentials {
    pub fn new(client: Client, config: SecretsConfig) -> Self {
        Self {
            sm: Sm {
                client,
                calls: Default::default(),
            },
            config,
            slots: moka::sync::Cache::new(MAX_ACCOUNTS),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
        }
    }

    /// The name of `account`'s secret.
    pub fn secret_name(&self, account: &AccountId) -> String {
        format!("{}{}", self.config.name_prefix, account.as_str())
    }

    pub fn stats(&self) -> SecretsStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let calls = &self.sm.calls;
        SecretsStats {
            gets: get(&calls.gets),
            describes: get(&calls.describes),
            puts: get(&calls.puts),
            creates: get(&calls.creates),
            stage_moves: get(&calls.stage_moves),
            hits: get(&self.hits),
            misses: get(&self.misses),
            stale_served: get(&self.stale_served),
            conflicts: get(&self.conflicts),
        }
    }

    fn slot(&self, account: &AccountId) -> Slot {
        self.slots.get_with_by_ref(account, Slot::default)
    }

    fn tags(&self, account: &AccountId) -> Vec<Tag> {
        [
            ("managed-by", "practice-gateway"),
            ("account-id", account.as_str()),
            ("environment", &self.config.environment),
        ]
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
    }

    /// Read, merge, write, compare-and-swap; again on a conflict. What was written, and its
    /// version.
    async fn write(
        &self,
        account: &AccountId,
        name: &str,
        creds: &SikkaCredentials,
    ) -> Result<(SikkaCredentials, String), StoreError> {
        let unavailable = |f: Failure| StoreError::Unavailable(format!("{name}: {}", f.detail()));
        let mut change = None;
        let mut ours: Option<(SikkaCredentials, String)> = None;
        for _ in 0..MAX_WRITE_ATTEMPTS {
            let current = self.sm.get(name).await.map_err(unavailable)?;
            if let (Some(current), Some((_, version))) = (&current, &ours)
                && current.version == *version
            {
                // Our version is current after all (the swap's answer was lost and retried).
                return Ok(ours.expect("just matched"));
            }
            let record = current
                .as_ref()
                .map(|c| serde_json::from_str(&c.value).map_err(|e| json_error(name, &e)))
                .transpose()?;
            let change = match &mut change {
                Some(change) => change,
                None => change.insert(merge::Change::new(record.clone(), creds)?),
            };
            let merged = change.apply(record)?;
            let stored = parse(&merged.to_string())
                .map_err(|why| StoreError::Corrupt(format!("{name}: {why}")))?;
            let token = uuid::Uuid::new_v4().to_string();
            let text = merged.to_string();
            let won = match &current {
                None => {
                    let kms = self.config.kms_key_id.as_deref();
                    let created = self.sm.create(name, text, &token, kms, self.tags(account));
                    created.await.map_err(unavailable)?.map(|v| (stored, v))
                }
                Some(current) => {
                    self.sm
                        .put_staged(name, text, &token)
                        .await
                        .map_err(unavailable)?;
                    let swapped = self.sm.swap_current(name, &current.version, &token);
                    ours = Some((stored, token.clone()));
                    if swapped.await.map_err(unavailable)? {
                        ours.take()
                    } else {
                        None
                    }
                }
            };
            if let Some(won) = won {
                return Ok(won);
            }
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            tracing::info!(account = %account, secret = name, "another task wrote these credentials first; merging into its version");
        }
        Err(StoreError::Unavailable(format!(
            "{name}: other writers kept winning after {MAX_WRITE_ATTEMPTS} attempts"
        )))
    }
}

/// A secret's value as credentials, or why not (the JSON error's kind and place, or the field
/// at fault: never the value).
fn parse(value: &str) -> Result<SikkaCredentials, String> {
    let json: serde_json::Value = serde_json::from_str(value).map_err(|e| {
        format!(
            "not JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })?;
    if !json.is_object() {
        return Err("not a credential record (not a JSON object)".into());
    }
    serde_path_to_error::deserialize(json).map_err(|e| {
        format!(
            "not a credential record ({:?} error at field `{}`)",
            e.inner().classify(),
            e.path()
        )
    })
}

fn json_error(name: &str, e: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!(
        "{name}: not JSON ({:?} error at line {}, column {})",
        e.classify(),
        e.line(),
        e.column()
    ))
}

#[async_trait]
impl CredentialStore for SecretsManagerCredentials {
    async fn load(&self, account: &AccountId) -> Result<Option<SikkaCredentials>, StoreError> {
        self.load_cached(account).await
    }

    /// Revalidates the cached entry now (`DescribeSecret`, and a read only if it changed).
    async fn reload(&self, account: &AccountId) -> Result<Option<SikkaCredentials>, StoreError> {
        if let Some(entry) = self.slot(account).lock().await.as_mut() {
            entry.fresh_until = std::time::Instant::now();
        }
        self.load_cached(account).await
    }

    async fn save(&self, account: &AccountId, creds: &SikkaCredentials) -> Result<(), StoreError> {
        let slot = self.slot(account);
        let mut entry = slot.lock().await;
        let name = self.secret_name(account);
        let (creds, version) = self.write(account, &name, creds).await?;
        tracing::info!(account = %account, secret = %name, "practice credentials written to Secrets Manager");
        *entry = Some(Entry {
            cached: Cached::Found { creds, version },
            fresh_until: Instant::now() + self.config.ttl,
            stale_logged: false,
        });
        Ok(())
    }
}
