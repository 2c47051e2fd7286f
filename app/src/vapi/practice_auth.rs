//! The practices whose assistants sign with their own Vapi secret, and how to check each (the
//! gateway-wide mode's settings with the practice's key). One snapshot, replaced whole when the
//! practices are re-read (the `aws` profile refreshes them in the background), so a request is
//! checked against one consistent set.

use std::sync::{Arc, PoisonError, RwLock};

use super::auth::AuthMode;
use crate::{pms::AccountId, secret::Secret};

#[derive(Default)]
pub struct PracticeAuth {
    current: RwLock<Arc<Vec<(AccountId, AuthMode)>>>,
}

impl PracticeAuth {
    /// `secrets` checked with `mode`'s settings; none when there is no gateway-wide mode (the
    /// Vapi routes then answer 503 anyway).
    pub fn new(mode: Option<&AuthMode>, secrets: &[(AccountId, Secret)]) -> Self {
        let auth = Self::default();
        auth.replace(mode, secrets);
        auth
    }

    /// The practices and their checks, as of now.
    pub fn current(&self) -> Arc<Vec<(AccountId, AuthMode)>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `account` signs with its own secret.
    pub fn has_own(&self, account: &AccountId) -> bool {
        self.current().iter().any(|(a, _)| a == account)
    }

    /// Replaces the set with `secrets`.
    pub fn replace(&self, mode: Option<&AuthMode>, secrets: &[(AccountId, Secret)]) {
        let next = match mode {
            Some(mode) => secrets
                .iter()
                .map(|(account, secret)| (account.clone(), mode.with_secret(secret.clone())))
                .collect(),
            None => Vec::new(),
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }
}
