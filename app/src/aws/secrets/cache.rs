//! The credential store's per-account cache: what an entry holds, and how a load is answered
//! from it (fresh, revalidated with `DescribeSecret`, re-read, served stale, or remembered as
//! unknown). The policy is described in the module doc of `aws::secrets`.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Instant,
};

use super::{NEGATIVE_TTL, STALE_RETRY, SecretsManagerCredentials, parse, sdk::Failure};
use crate::pms::AccountId;
use crate::pms::sikka::{SikkaCredentials, StoreError};

pub(super) enum Cached {
    Found {
        creds: SikkaCredentials,
        version: String,
    },
    Missing,
}

pub(super) struct Entry {
    pub cached: Cached,
    pub fresh_until: Instant,
    /// A stale answer was logged in the current failure episode.
    pub stale_logged: bool,
}

impl Entry {
    fn answer(&self) -> Option<SikkaCredentials> {
        match &self.cached {
            Cached::Found { creds, .. } => Some(creds.clone()),
            Cached::Missing => None,
        }
    }
}

pub(super) type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

pub(super) enum LoadFailure {
    Sm(Failure),
    Corrupt(String),
}

impl SecretsManagerCredentials {
    /// `CredentialStore::load`: from the cache, else Secrets Manager (see the module doc).
    pub(super) async fn load_cached(
        &self,
        account: &AccountId,
    ) -> Result<Option<SikkaCredentials>, StoreError> {
        let slot = self.slot(account);
        let mut entry = slot.lock().await;
        let now = Instant::now();
        if let Some(fresh) = entry.as_ref().filter(|e| now < e.fresh_until) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(fresh.answer());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let name = self.secret_name(account);
        match self
            .revalidate(&name, entry.as_ref().map(|e| &e.cached))
            .await
        {
            Ok(next) => {
                let ttl = match next {
                    Some(Cached::Missing) => NEGATIVE_TTL,
                    _ => self.config.ttl,
                };
                let fresh = entry.get_or_insert(Entry {
                    cached: Cached::Missing,
                    fresh_until: now,
                    stale_logged: false,
                });
                if let Some(next) = next {
                    fresh.cached = next;
                }
                fresh.fresh_until = Instant::now() + ttl;
                fresh.stale_logged = false;
                Ok(fresh.answer())
            }
            Err(LoadFailure::Corrupt(why)) => {
                *entry = None;
                tracing::warn!(account = %account, secret = %name, reason = %why, "the practice's credential secret is not a credential record");
                Err(StoreError::Corrupt(format!("{name}: {why}")))
            }
            Err(LoadFailure::Sm(Failure::Transient(detail))) => match entry.as_mut() {
                Some(
                    stale @ Entry {
                        cached: Cached::Found { .. },
                        ..
                    },
                ) => {
                    self.stale_served.fetch_add(1, Ordering::Relaxed);
                    if !stale.stale_logged {
                        stale.stale_logged = true;
                        tracing::warn!(account = %account, secret = %name, error = %detail, "Secrets Manager failed; serving the cached credentials until it answers");
                    }
                    stale.fresh_until = Instant::now() + STALE_RETRY;
                    Ok(stale.answer())
                }
                _ => Err(StoreError::Unavailable(format!("{name}: {detail}"))),
            },
            Err(LoadFailure::Sm(failure)) => Err(StoreError::Unavailable(format!(
                "{name}: {}",
                failure.detail()
            ))),
        }
    }

    /// The current value, as a cache entry.
    async fn fetch(&self, name: &str) -> Result<Cached, LoadFailure> {
        match self.sm.get(name).await.map_err(LoadFailure::Sm)? {
            None => Ok(Cached::Missing),
            Some(current) => Ok(Cached::Found {
                creds: parse(&current.value).map_err(LoadFailure::Corrupt)?,
                version: current.version,
            }),
        }
    }

    /// After the TTL: `DescribeSecret`, and a read only when the current version changed.
    /// `Ok(None)`: unchanged.
    async fn revalidate(
        &self,
        name: &str,
        cached: Option<&Cached>,
    ) -> Result<Option<Cached>, LoadFailure> {
        let Some(Cached::Found { version, .. }) = cached else {
            return self.fetch(name).await.map(Some);
        };
        match self.sm.current_version(name).await {
            Ok(Some(current)) if current == *version => Ok(None),
            Ok(_) => self.fetch(name).await.map(Some),
            Err(failure) => Err(LoadFailure::Sm(failure)),
        }
    }
}
