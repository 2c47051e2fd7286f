//! How the Sikka routes authenticate, comparing in constant time: Sikka's webhooks carry the
//! `callback-key` header agreed in Sikka's portal (`SIKKA_CALLBACK_KEY`); the marketplace
//! documents no signature, so its notifications must carry `x-marketplace-secret`
//! (`SIKKA_MARKETPLACE_SECRET`). A route whose secret is not configured answers 503, never opens.
//! A missing or wrong secret is audited as denied (the one deny-and-audit,
//! `middleware::deny_and_audit`) and answered 401.

use poem::Request;

use crate::api::{AppState, middleware::deny_and_audit};
use crate::secret::Secret;

/// The header Sikka's webhooks carry their agreed secret in.
pub const CALLBACK_KEY_HEADER: &str = "callback-key";
/// The header the marketplace notifications must carry `SIKKA_MARKETPLACE_SECRET` in.
pub const MARKETPLACE_SECRET_HEADER: &str = "x-marketplace-secret";

/// Why a Sikka request was refused for its secret. Each Sikka route's response converts it
/// (`refusals!`): 503 saying which setting is missing, or 401.
pub enum Refusal {
    NotConfigured(&'static str),
    /// Already audited.
    Denied,
}

/// The response of a refused request, for every Sikka route's response type (each has
/// `Unavailable(ProblemJson)` and `Unauthorized`).
macro_rules! refusals {
    ($($response:ty),*) => {$(
        impl From<$crate::api::sikka::auth::Refusal> for $response {
            fn from(refusal: $crate::api::sikka::auth::Refusal) -> Self {
                match refusal {
                    $crate::api::sikka::auth::Refusal::NotConfigured(what) => {
                        Self::Unavailable(super::unavailable(what))
                    }
                    $crate::api::sikka::auth::Refusal::Denied => Self::Unauthorized,
                }
            }
        }
    )*};
}
pub(super) use refusals;

/// Sikka's webhooks: the `callback-key` header must carry `SIKKA_CALLBACK_KEY`.
pub async fn callback_key(state: &AppState, req: &Request) -> Result<(), Refusal> {
    let expected = state.sikka.callback_key.as_ref().ok_or(Refusal::NotConfigured(
        "No Sikka callback key is configured (set SIKKA_CALLBACK_KEY), so Sikka webhooks are refused.",
    ))?;
    check(state, req, CALLBACK_KEY_HEADER, expected).await
}

/// The marketplace's notifications: `x-marketplace-secret` must carry
/// `SIKKA_MARKETPLACE_SECRET`.
pub async fn marketplace_secret(state: &AppState, req: &Request) -> Result<(), Refusal> {
    let expected = state.sikka.marketplace_secret.as_ref().ok_or(Refusal::NotConfigured(
        "No marketplace secret is configured (set SIKKA_MARKETPLACE_SECRET), so marketplace notifications are refused.",
    ))?;
    check(state, req, MARKETPLACE_SECRET_HEADER, expected).await
}

/// Checks that `header` carries `expected`; audits a refusal.
async fn check(
    state: &AppState,
    req: &Request,
    header: &'static str,
    expected: &Secret,
) -> Result<(), Refusal> {
    let reason = match req.headers().get(header) {
        Some(given) if expected.matches(given.as_bytes()) => return Ok(()),
        Some(_) => format!("{header} does not match"),
        None => format!("{header} missing"),
    };
    deny(state, req, &reason).await;
    Err(Refusal::Denied)
}

/// Logs and audits a Sikka request refused for its credentials.
pub async fn deny(state: &AppState, req: &Request, reason: &str) {
    tracing::warn!(path = %req.uri().path(), reason, "sikka request denied");
    deny_and_audit(state, req, "sikka", reason.to_owned()).await;
}

#[cfg(test)]
mod tests {
    use crate::secret::same as same_secret;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"", b"abc"));
    }
}
