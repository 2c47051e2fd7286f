//! The port the Sikka adapter needs to keep a practice's credentials: [`SikkaCredentials`] holds
//! the office's long-lived `secret_key` and the short-lived tokens minted from it;
//! [`CredentialStore`] is where they live, implemented outside the adapter (`practices`).
//! Secrets are [`Secret`]s: `Debug` and `Display` never print them.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    pms::{AccountId, OfficeId},
    secret::Secret,
};

/// One practice's Sikka credentials: the office's `secret_key` (from `authorized_practices`) and
/// the tokens minted from it. `expires_at` is when `request_key` stops working.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SikkaCredentials {
    pub office_id: OfficeId,
    pub secret_key: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_key: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<jiff::Timestamp>,
    /// Sikka answered `API2007` for this office: the practice withdrew its authorization. Calls
    /// are refused (staff must act) until onboarding stores working credentials again. Always
    /// written, so a save clears it as well as sets it.
    #[serde(default)]
    pub revoked: bool,
}

impl SikkaCredentials {
    /// Credentials with no token yet: the first call mints one.
    pub fn new(office_id: OfficeId, secret_key: Secret) -> Self {
        Self {
            office_id,
            secret_key,
            request_key: None,
            refresh_key: None,
            expires_at: None,
            revoked: false,
        }
    }
}

impl fmt::Debug for SikkaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SikkaCredentials")
            .field("office_id", &self.office_id)
            .field("secret_key", &self.secret_key)
            .field("request_key", &self.request_key)
            .field("refresh_key", &self.refresh_key)
            .field("expires_at", &self.expires_at)
            .field("revoked", &self.revoked)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or written; a retry may succeed.
    #[error("credential store unavailable: {0}")]
    Unavailable(String),
    /// What is stored is not a credential record.
    #[error("credential store holds an invalid record: {0}")]
    Corrupt(String),
}

/// Where practices' Sikka credentials live. `save` merges: fields of the stored record that
/// [`SikkaCredentials`] does not know, and tokens given as `None`, are kept.
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    async fn load(&self, account: &AccountId) -> Result<Option<SikkaCredentials>, StoreError>;
    async fn save(&self, account: &AccountId, creds: &SikkaCredentials) -> Result<(), StoreError>;
    /// [`load`](Self::load), past any cache (another process may have just saved).
    async fn reload(&self, account: &AccountId) -> Result<Option<SikkaCredentials>, StoreError> {
        self.load(account).await
    }
}
