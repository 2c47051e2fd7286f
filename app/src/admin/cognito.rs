//! Admin authentication: a Cognito user pool **access token**, checked with `jsonwebtoken` (on the
//! tree's one crypto provider, aws-lc-rs).
//!
//! A token is accepted when all of these hold, else [`TokenError`] says which failed (words only,
//! never the token):
//! - it is a JWS signed with **RS256** (any other `alg`, `none` included, is refused before a key
//!   is looked up) by a key of the pool's JWKS, named by the header's `kid`;
//! - `iss` is exactly the configured issuer (`COGNITO_ISSUER`);
//! - `client_id` is exactly the configured app client id (`COGNITO_CLIENT_ID`; access tokens carry
//!   no `aud`);
//! - `token_use` is `access` (an id token is refused);
//! - `exp` is after now **by the gateway's [`Clock`]** (jsonwebtoken's own `exp` check reads the
//!   wall clock, so it is turned off and `exp` is checked here).
//!
//! The JWKS comes from `<issuer>/.well-known/jwks.json`, fetched on first use and cached. A token
//! naming a `kid` the cache does not hold (the pool rotated its keys) refetches it, at most once
//! per [`REFETCH_INTERVAL`] however many tokens ask, so forged `kid`s cannot make the gateway hammer
//! Cognito. Concurrent refetches are single-flight.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

use crate::clock::Clock;

/// The least time between two JWKS fetches caused by unknown `kid`s.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long one JWKS fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The Cognito settings of the admin routes (`COGNITO_ISSUER`, `COGNITO_CLIENT_ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoSettings {
    /// The user pool's issuer URL, e.g.
    /// `https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc` (no trailing slash).
    pub issuer: String,
    /// The app client whose access tokens are accepted.
    pub client_id: String,
}

/// Who a verified token names. `sub` and `username` are Cognito's; safe to audit, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminIdentity {
    pub sub: String,
    pub username: Option<String>,
}

/// Why a token was refused. Carries no token content beyond the claim names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("malformed token")]
    Malformed,
    #[error("token algorithm is not RS256")]
    Algorithm,
    #[error("token names no key id, or one the user pool does not publish")]
    UnknownKey,
    #[error("token signature does not verify")]
    Signature,
    #[error("token issuer is not the configured user pool")]
    Issuer,
    #[error("token client_id is not the configured app client")]
    ClientId,
    #[error("not an access token (token_use is not access)")]
    TokenUse,
    #[error("token expired")]
    Expired,
    #[error("the user pool's keys could not be fetched: {0}")]
    Jwks(String),
}

/// The claims an access token must carry (others are ignored).
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

/// The keys fetched so far, and when the last fetch was.
#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    fetched_at: Option<Instant>,
}

/// Verifies Cognito access tokens. Cheap to share (`Arc`); one per gateway.
pub struct CognitoVerifier {
    settings: CognitoSettings,
    clock: Clock,
    http: reqwest::Client,
    keys: RwLock<Keys>,
    /// Held while a fetch runs, so concurrent unknown `kid`s cause one fetch.
    fetching: Mutex<()>,
    /// The least time between fetches ([`REFETCH_INTERVAL`]).
    refetch_interval: Duration,
}

impl CognitoVerifier {
    pub fn new(settings: CognitoSettings, clock: Clock) -> Self {
        let settings = CognitoSettings {
            issuer: settings.issuer.trim_end_matches('/').to_owned(),
            client_id: settings.client_id,
        };
        Self {
            settings,
            clock,
            http: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .expect("a reqwest client with a timeout always builds"),
            keys: RwLock::default(),
            fetching: Mutex::new(()),
            refetch_interval: REFETCH_INTERVAL,
        }
    }

    /// Another least time between JWKS fetches than [`REFETCH_INTERVAL`] (tests).
    pub fn with_refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// `<issuer>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.settings.issuer)
    }

    /// Checks `token` (the bearer token, without `Bearer `) as described in the module doc.
    pub async fn verify(&self, token: &str) -> Result<AdminIdentity, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // `exp` against the gateway's clock below, not jsonwebtoken's wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        if claims.iss != self.settings.issuer {
            return Err(TokenError::Issuer);
        }
        if claims.client_id.as_deref() != Some(self.settings.client_id.as_str()) {
            return Err(TokenError::ClientId);
        }
        if claims.token_use.as_deref() != Some("access") {
            return Err(TokenError::TokenUse);
        }
        if claims.exp <= self.clock.now().as_second() {
            return Err(TokenError::Expired);
        }
        Ok(AdminIdentity {
            sub: claims.sub,
            username: claims.username,
        })
    }

    /// The key named `kid`: from the cache, else after a (rate-limited) refetch.
    async fn key(&self, kid: &str) -> Result<Arc<DecodingKey>, TokenError> {
        if let Some(key) = self.keys.read().await.by_kid.get(kid) {
            return Ok(key.clone());
        }
        let _one_fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let due = {
            let keys = self.keys.read().await;
            if let Some(key) = keys.by_kid.get(kid) {
                return Ok(key.clone());
            }
            keys.fetched_at
                .is_none_or(|at| at.elapsed() >= self.refetch_interval)
        };
        if !due {
            return Err(TokenError::UnknownKey);
        }
        let fetched = self.fetch().await;
        let mut keys = self.keys.write().await;
        keys.fetched_at = Some(Instant::now());
        keys.by_kid = fetched?;
        keys.by_kid.get(kid).cloned().ok_or(TokenError::UnknownKey)
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<DecodingKey>>, TokenError> {
        let url = self.jwks_url();
        let set: JwkSet = async {
            self.http
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        }
        .await
        .map_err(|e| {
            tracing::warn!(url = %url, error = %e, "fetching the Cognito JWKS failed");
            TokenError::Jwks(format!("GET {url} failed"))
        })?;
        let keys: HashMap<_, _> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, Arc::new(key)))
            })
            .collect();
        tracing::info!(url = %url, keys = keys.len(), "Cognito JWKS fetched");
        Ok(keys)
    }
}

#[cfg(test)]
#[path = "cognito_tests.rs"]
mod tests;
