//! Tenancy: which practice a call belongs to, each practice's profile (time zone, transfer
//! number, booking policy) and the system that holds its records.

mod build;
mod credentials;
mod json_file;
mod local;
pub mod marketplace;
pub mod onboarding;
mod profile;
pub mod registrations;

use std::sync::Arc;

use async_trait::async_trait;

pub use build::{PmsBinding, PracticeParts, build_practice};
pub(crate) use credentials::merge_record;
pub use credentials::{
    CredentialStore, LocalCredentialFile, MemoryCredentials, SikkaCredentials, StoreError,
};
pub use local::{LocalDirectory, LocalOptions, LocalPracticeFile, LocalStoreError, PracticeEntry};
pub use profile::{BookingPolicy, PracticeProfile};

use crate::pms::{AccountId, E164, PracticeSystem};

/// A practice the gateway serves: its profile and the system that holds its records.
pub struct Practice {
    pub profile: PracticeProfile,
    pub pms: Arc<dyn PracticeSystem>,
}

impl Practice {
    /// Where a caller goes when they ask for a person, or what to say when nowhere.
    pub fn transfer_destination(&self) -> Result<E164, String> {
        self.profile.transfer_number.clone().ok_or_else(|| {
            format!(
                "{} has no transfer number set up, so the call cannot be transferred. Apologise, offer to take a message for the office, or suggest calling back during office hours.",
                self.profile.name
            )
        })
    }
}

/// What a call tells us about which practice it belongs to. The practice is *bound* by the
/// route table — the Vapi phone number that was called, else (web calls) the assistant, else the
/// practice line's number — never by what the assistant's metadata claims: a claimed account is
/// only checked against that binding.
#[derive(Debug, Clone, Default)]
pub struct PracticeKey {
    /// `call.phoneNumberId`: the Vapi number that was called.
    pub phone_number_id: Option<String>,
    /// `call.assistantId`: the saved assistant (what binds a web call).
    pub assistant_id: Option<String>,
    /// `phoneNumber.number`: the practice line in E.164.
    pub phone_number: Option<E164>,
    /// `accountId` from the assistant's metadata or overrides: a claim, not a binding.
    pub claimed_account: Option<String>,
}

/// Which practice a call is bound to.
#[derive(Clone)]
pub enum Binding {
    Bound(Arc<Practice>),
    /// No route of the call is in the table.
    NotSetUp,
    /// The metadata names an account other than the bound practice's (or names one when nothing
    /// binds the call).
    Disagrees,
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
    /// The practice a saved Vapi assistant answers for (web calls have no phone number).
    async fn by_assistant_id(&self, _id: &str) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(None)
    }

    /// How many routes lead to `account`: Vapi phone number ids, assistants and practice lines
    /// (for the practice doctor: none means no call can reach it).
    async fn routes_to(&self, account: &AccountId) -> Result<usize, DirectoryError>;

    /// The practice the call is bound to: the first route the call carries decides (phone
    /// number id, else assistant id, else the practice line); a claimed account must agree.
    async fn resolve(&self, key: &PracticeKey) -> Result<Binding, DirectoryError> {
        let present = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let bound = if let Some(id) = present(&key.phone_number_id) {
            self.by_phone_number_id(&id).await?
        } else if let Some(id) = present(&key.assistant_id) {
            self.by_assistant_id(&id).await?
        } else if let Some(number) = &key.phone_number {
            self.by_phone_number(number).await?
        } else {
            None
        };
        let claim = present(&key.claimed_account);
        Ok(match (bound, claim) {
            (Some(practice), Some(claim)) if practice.profile.account_id.as_str() != claim => {
                Binding::Disagrees
            }
            (Some(practice), _) => Binding::Bound(practice),
            // A claim with nothing binding the call: denied alike when it names a practice.
            (None, Some(claim)) => match self.by_account(&AccountId::new(claim)).await? {
                Some(_) => Binding::Disagrees,
                None => Binding::NotSetUp,
            },
            (None, None) => Binding::NotSetUp,
        })
    }
}
