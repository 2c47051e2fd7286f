//! Tenancy: which practice a call belongs to, each practice's profile (time zone, transfer
//! number, booking policy) and the system that holds its records.

mod credentials;
mod json_file;
mod local;
pub mod onboarding;
mod profile;
pub mod registrations;

use std::sync::Arc;

use async_trait::async_trait;

pub use credentials::{
    CredentialStore, LocalCredentialFile, MemoryCredentials, Secret, SikkaCredentials, StoreError,
};
pub use local::{LocalDirectory, LocalOptions, LocalPracticeFile, PmsBinding, PracticeEntry};
pub use profile::{BookingPolicy, PracticeProfile};

use crate::pms::{AccountId, E164, PracticeSystem};

/// A practice the gateway serves: its profile and the system that holds its records.
pub struct Practice {
    pub profile: PracticeProfile,
    pub pms: Arc<dyn PracticeSystem>,
}

/// What a call tells us about which practice it belongs to, in order of trust.
#[derive(Debug, Clone, Default)]
pub struct PracticeKey {
    /// `assistant.metadata.accountId`, set when the assistant was created.
    pub account_id: Option<String>,
    /// `call.phoneNumberId`: the Vapi number that was called.
    pub phone_number_id: Option<String>,
    /// `phoneNumber.number`: the practice line in E.164.
    pub phone_number: Option<E164>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("practice directory unavailable: {0}")]
    Unavailable(String),
}

/// Finds the practice for a call. The first key present decides: an account id that is not
/// known is not retried through the phone routes, so a call is never attributed by a guess.
#[async_trait]
pub trait PracticeDirectory: Send + Sync + 'static {
    async fn by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<Arc<Practice>>, DirectoryError>;
    async fn by_phone_number_id(&self, id: &str) -> Result<Option<Arc<Practice>>, DirectoryError>;
    async fn by_phone_number(&self, number: &E164)
    -> Result<Option<Arc<Practice>>, DirectoryError>;

    async fn resolve(&self, key: &PracticeKey) -> Result<Option<Arc<Practice>>, DirectoryError> {
        if let Some(account) = key.account_id.as_deref().filter(|a| !a.is_empty()) {
            return self.by_account(&AccountId::new(account)).await;
        }
        if let Some(id) = key.phone_number_id.as_deref().filter(|a| !a.is_empty()) {
            return self.by_phone_number_id(id).await;
        }
        match &key.phone_number {
            Some(number) => self.by_phone_number(number).await,
            None => Ok(None),
        }
    }
}
