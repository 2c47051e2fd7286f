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

/// The verdict on a Sikka request's secret.
pub enum Check {
    Pass,
    /// 503, saying which setting is missing.
    NotConfigured(&'static str),
    /// 401 (already audited).
    Denied,
}

/// Checks that `header` carries `expected`; audits a refusal.
pub async fn check(
    state: &AppState,
    req: &Request,
    header: &'static str,
    expected: Option<&Secret>,
) -> Check {
    let Some(expected) = expected else {
        return Check::NotConfigured(if header == CALLBACK_KEY_HEADER {
            "No Sikka callback key is configured (set SIKKA_CALLBACK_KEY), so Sikka webhooks are refused."
        } else {
            "No marketplace secret is configured (set SIKKA_MARKETPLACE_SECRET), so marketplace notifications are refused."
        });
    };
    match req.headers().get(header) {
        Some(given) if expected.matches(given.as_bytes()) => Check::Pass,
        Some(_) => {
            deny(state, req, &format!("{header} does not match")).await;
            Check::Denied
        }
        None => {
            deny(state, req, &format!("{header} missing")).await;
            Check::Denied
        }
    }
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
