//! The practices whose assistants sign with their own Vapi secret, and how to check each (the
//! gateway-wide mode's settings with the practice's key). One snapshot, replaced whole when the
//! practices are re-read (the `aws` profile refreshes them in the background), so a request is
//! checked against one consistent set. A practice whose secret could not be read is kept as
//! *locked*: it still has its own secret, so the gateway-wide one does not reach it, and no
//! request verifies for it until its secret is read.

use std::sync::{Arc, PoisonError, RwLock};

use super::auth::AuthMode;
use crate::{pms::AccountId, secret::Secret};

/// Each practice with its own secret, and the check of it (`None`: locked).
pub type Checks = Vec<(AccountId, Option<AuthMode>)>;

#[derive(Default)]
pub struct PracticeAuth {
    current: RwLock<Arc<Checks>>,
}

impl PracticeAuth {
    /// `secrets` checked with `mode`'s settings; none when there is no gateway-wide mode (the
    /// Vapi routes then answer 503 anyway).
    pub fn new(mode: Option<&AuthMode>, secrets: &[(AccountId, Secret)]) -> Self {
        let auth = Self::default();
        auth.replace(mode, secrets);
        auth
    }

    /// The practices and their checks (`None`: locked), as of now.
    pub fn current(&self) -> Arc<Checks> {
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
        let all: Vec<_> = secrets
            .iter()
            .map(|(account, secret)| (account.clone(), Some(secret.clone())))
            .collect();
        self.replace_some(mode, &all);
    }

    /// Replaces the set; an account given `None` is locked (its secret could not be read).
    pub fn replace_some(&self, mode: Option<&AuthMode>, secrets: &[(AccountId, Option<Secret>)]) {
        let next = match mode {
            Some(mode) => secrets
                .iter()
                .map(|(account, secret)| {
                    let check = secret.as_ref().map(|s| mode.with_secret(s.clone()));
                    (account.clone(), check)
                })
                .collect(),
            None => Vec::new(),
        };
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_practice_whose_secret_could_not_be_read_is_locked_not_opened() {
        let env = |name: &str| (name == "VAPI_WEBHOOK_SECRET").then(|| "global-secret".to_owned());
        let mode = crate::vapi::auth::from_env(&env).unwrap().unwrap();
        let auth = PracticeAuth::default();
        let (open, locked) = (AccountId::new("open"), AccountId::new("locked"));
        auth.replace_some(
            Some(&mode),
            &[
                (open.clone(), Some(Secret::new("own-secret"))),
                (locked.clone(), None),
            ],
        );
        assert!(auth.has_own(&open) && auth.has_own(&locked));
        let current = auth.current();
        assert!(current.iter().any(|(a, m)| *a == open && m.is_some()));
        assert!(current.iter().any(|(a, m)| *a == locked && m.is_none()));
        assert!(!auth.has_own(&AccountId::new("other")));
        auth.replace(None, &[(open.clone(), Secret::new("s"))]);
        assert!(
            auth.current().is_empty(),
            "no gateway-wide mode: nothing to check with"
        );
    }
}
