//! One practice's request key: loaded from the [`CredentialStore`], refreshed before it expires
//! (a configurable margin), renewed when Sikka calls it expired, and saved back. Single-flight:
//! the refresh runs under one async mutex, so however many calls wait on it the token endpoint
//! is hit once; a caller whose key is stale renews only if nobody renewed since it read the key
//! (the generation check). The refresh grant falls back to the request-key grant
//! (`office_id` + `secret_key`) when it fails.
//!
//! Across tasks, a renewal is made under the practice's refresh lease ([`Leases`]; the shared
//! table on the `aws` profile): a task that finds it taken waits for the other's new key to
//! appear in the store (read afresh, [`CredentialStore::reload`]) instead of asking Sikka too.
//! If the lease lapses without a new key, it renews itself; if the lease cannot be asked for,
//! it renews (a second renewal is harmless, a call without a key is not).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{IssuedKey, SikkaClient};
use super::error::SikkaError;
use super::{CredentialStore, SikkaCredentials};
use crate::pms::{AccountId, OfficeId};
use crate::secret::Secret;
use crate::state::{Leases, OneProcess};

/// How long a practice's refresh lease lasts (a renewal takes well under it).
pub const REFRESH_LEASE: Duration = Duration::from_secs(10);

/// A request key and the generation it belongs to (bumped at every renewal).
#[derive(Clone)]
pub(crate) struct Key {
    pub secret: Secret,
    pub generation: u64,
}

#[derive(Default)]
struct State {
    creds: Option<SikkaCredentials>,
    generation: u64,
}

pub(crate) struct Tokens {
    account: AccountId,
    office_id: OfficeId,
    store: Arc<dyn CredentialStore>,
    margin: Duration,
    state: tokio::sync::Mutex<State>,
    leases: Arc<dyn Leases>,
}

impl Tokens {
    pub fn new(
        account: AccountId,
        office_id: OfficeId,
        store: Arc<dyn CredentialStore>,
        margin: Duration,
    ) -> Self {
        Self {
            account,
            office_id,
            store,
            margin,
            state: tokio::sync::Mutex::new(State::default()),
            leases: Arc::new(OneProcess),
        }
    }

    /// Renews under `leases` (one renewal per practice across the tasks sharing them).
    pub fn with_leases(self, leases: Arc<dyn Leases>) -> Self {
        Self { leases, ..self }
    }

    /// A key that is good for at least the margin, refreshing it first if needed.
    pub async fn current(
        &self,
        client: &SikkaClient,
        deadline: Instant,
    ) -> Result<Key, SikkaError> {
        let mut state = tokio::time::timeout_at(deadline, self.state.lock())
            .await
            .map_err(|_| SikkaError::Timeout)?;
        self.load(&mut state).await?;
        if state.creds.as_ref().is_some_and(|c| c.revoked) {
            return Err(SikkaError::PracticeNotAuthorized);
        }
        let fresh_until = client
            .config()
            .clock
            .now()
            .checked_add(self.margin)
            .unwrap_or(jiff::Timestamp::MAX);
        if let Some(creds) = &state.creds
            && let (Some(key), Some(expires)) = (&creds.request_key, creds.expires_at)
            && expires > fresh_until
        {
            return Ok(Key {
                secret: key.clone(),
                generation: state.generation,
            });
        }
        self.renew_locked(&mut state, client, deadline).await
    }

    /// Sikka refused the key of generation `stale`: renew it, unless someone already did.
    pub async fn renew(
        &self,
        client: &SikkaClient,
        stale: u64,
        deadline: Instant,
    ) -> Result<Key, SikkaError> {
        let mut state = tokio::time::timeout_at(deadline, self.state.lock())
            .await
            .map_err(|_| SikkaError::Timeout)?;
        if state.generation != stale
            && let Some(key) = state.creds.as_ref().and_then(|c| c.request_key.clone())
        {
            return Ok(Key {
                secret: key,
                generation: state.generation,
            });
        }
        self.load(&mut state).await?;
        self.renew_locked(&mut state, client, deadline).await
    }

    /// Drops the loaded credentials, so the next call reads the store again (after onboarding
    /// stored new ones, or the reconciler marked the practice revoked).
    pub async fn forget(&self) {
        let mut state = self.state.lock().await;
        state.creds = None;
        state.generation += 1;
    }

    async fn load(&self, state: &mut State) -> Result<(), SikkaError> {
        if state.creds.is_none() {
            let creds = self
                .store
                .load(&self.account)
                .await
                .map_err(|e| SikkaError::Store(e.to_string()))?
                .ok_or(SikkaError::NoCredentials)?;
            state.creds = Some(creds);
        }
        Ok(())
    }

    /// Renews the key under the practice's refresh lease, or takes the key another task renewed.
    async fn renew_locked(
        &self,
        state: &mut State,
        client: &SikkaClient,
        deadline: Instant,
    ) -> Result<Key, SikkaError> {
        let lease = format!("sikka-refresh#{}", self.account);
        let stale = state.creds.as_ref().and_then(|c| c.expires_at);
        loop {
            match self.leases.acquire(&lease, REFRESH_LEASE).await {
                Ok(true) => break,
                Err(e) => {
                    tracing::warn!(account = %self.account, error = %e, "refresh lease unavailable; renewing");
                    break;
                }
                Ok(false) => {
                    if let Some(key) = self.renewed_elsewhere(state, stale, deadline).await? {
                        return Ok(key);
                    }
                }
            }
        }
        // Another task may have renewed just before the lease was free.
        let renewed = match self.newer_in_store(state, stale).await {
            Some(key) => Ok(key),
            None => self.grant(state, client, deadline).await,
        };
        if let Err(e) = self.leases.release(&lease).await {
            tracing::warn!(account = %self.account, error = %e, "refresh lease not given back; it lapses");
        }
        renewed
    }

    /// Waits, within the lease and `deadline`, for the key another task is renewing to appear
    /// in the store. `None`: the lease lapsed without one.
    async fn renewed_elsewhere(
        &self,
        state: &mut State,
        stale: Option<jiff::Timestamp>,
        deadline: Instant,
    ) -> Result<Option<Key>, SikkaError> {
        let give_up = deadline.min(Instant::now() + REFRESH_LEASE);
        let mut wait = Duration::from_millis(50);
        loop {
            if Instant::now() >= deadline {
                return Err(SikkaError::Timeout);
            }
            if Instant::now() + wait >= give_up {
                return Ok(None);
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
            if let Some(key) = self.newer_in_store(state, stale).await {
                return Ok(Some(key));
            }
        }
    }

    /// The key in the store, read afresh, when it expires later than `stale` (another task
    /// renewed it): taken as this one's.
    async fn newer_in_store(
        &self,
        state: &mut State,
        stale: Option<jiff::Timestamp>,
    ) -> Option<Key> {
        let fresh = self.store.reload(&self.account).await.ok()??;
        if fresh.revoked || fresh.expires_at <= stale {
            return None;
        }
        let key = fresh.request_key.clone()?;
        state.creds = Some(fresh);
        state.generation += 1;
        tracing::info!(account = %self.account, "sikka request key renewed by another task");
        Some(Key {
            secret: key,
            generation: state.generation,
        })
    }

    async fn grant(
        &self,
        state: &mut State,
        client: &SikkaClient,
        deadline: Instant,
    ) -> Result<Key, SikkaError> {
        let creds = state.creds.as_mut().ok_or(SikkaError::NoCredentials)?;
        if creds.revoked {
            return Err(SikkaError::PracticeNotAuthorized);
        }
        if creds.office_id != self.office_id {
            tracing::warn!(account = %self.account, "stored office id differs from the practice's; using the practice's");
        }
        let issued = match creds.refresh_key.clone() {
            Some(refresh) => match client.refresh_grant(&refresh, deadline).await {
                Ok(issued) => issued,
                Err(e) => {
                    tracing::warn!(account = %self.account, error = %e, "refresh grant failed; using the request-key grant");
                    client
                        .request_key_grant(&self.office_id, &creds.secret_key, deadline)
                        .await?
                }
            },
            None => {
                client
                    .request_key_grant(&self.office_id, &creds.secret_key, deadline)
                    .await?
            }
        };
        let IssuedKey {
            request_key,
            refresh_key,
            expires_at,
        } = issued;
        creds.request_key = Some(request_key.clone());
        if refresh_key.is_some() {
            creds.refresh_key = refresh_key;
        }
        creds.expires_at = Some(expires_at);
        state.generation += 1;
        tracing::info!(account = %self.account, generation = state.generation, "sikka request key renewed");
        if let Err(e) = self.store.save(&self.account, creds).await {
            tracing::warn!(account = %self.account, error = %e, "could not save the renewed sikka key");
        }
        Ok(Key {
            secret: request_key,
            generation: state.generation,
        })
    }
}
