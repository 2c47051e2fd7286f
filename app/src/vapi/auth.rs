//! Verification of Vapi → gateway requests (VAPI.md §4): an HMAC signature over the raw body,
//! a static secret header, or a Bearer token, chosen per deployment ([`from_env`]). Comparisons
//! are constant-time (secrets through [`Secret::matches`], over digests, so not even their length
//! leaks); no failure reason or `Debug` output ever contains a secret or signature. A signature is
//! accepted once: [`AuthMode::verify_once`] refuses it again within its window
//! ([`SeenSignatures`]).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

use super::replay::SeenSignatures;

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    Hmac(HmacConfig),
    /// A header carrying the secret verbatim (`x-vapi-secret` by default).
    SecretHeader {
        header: String,
        secret: Secret,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        token: Secret,
    },
}

/// Vapi's `HMACAuthenticationPlan`, as configured on this side. Header names are lowercase.
#[derive(Debug, Clone)]
pub struct HmacConfig {
    pub algorithm: HmacAlgorithm,
    pub signature_header: String,
    pub timestamp_header: String,
    /// With placeholders `{timestamp}`, `{body}`, `{method}`, `{url}`.
    pub payload_format: String,
    pub encoding: SignatureEncoding,
    /// Stripped from the signature header when present, e.g. `sha256=`.
    pub prefix: Option<String>,
    /// The key bytes (already decoded when the secret was configured as base64).
    pub secret: Secret,
    pub max_skew_seconds: u64,
}

impl HmacConfig {
    /// Vapi's defaults: SHA-256, hex, `x-signature`, `x-timestamp`, `{timestamp}.{body}`, 5 min.
    pub fn new(secret: Secret) -> Self {
        Self {
            algorithm: HmacAlgorithm::Sha256,
            signature_header: "x-signature".into(),
            timestamp_header: "x-timestamp".into(),
            payload_format: "{timestamp}.{body}".into(),
            encoding: SignatureEncoding::Hex,
            prefix: None,
            secret,
            max_skew_seconds: 300,
        }
    }

    /// The signature header value Vapi would send for `req` at `timestamp` (for tests and tools
    /// that sign requests the way Vapi does).
    pub fn sign(&self, req: &RequestParts<'_>, timestamp: &str) -> String {
        let mut mac = AnyMac::new(self.algorithm, self.secret.expose_bytes());
        feed_payload(&mut mac, &self.payload_format, req, timestamp);
        let tag = mac.finalize();
        let encoded = match self.encoding {
            SignatureEncoding::Hex => hex::encode(tag),
            SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        };
        format!("{}{encoded}", self.prefix.as_deref().unwrap_or(""))
    }

    /// Whether the payload format signs a timestamp (without one, a signature never goes stale).
    pub fn is_timed(&self) -> bool {
        self.payload_format.contains("{timestamp}")
    }

    /// Checks the signature; `Ok` carries the MAC, the request's identity for replay detection.
    fn verify<'h>(
        &self,
        req: &RequestParts<'_>,
        header: &dyn Fn(&str) -> Option<&'h str>,
        now: jiff::Timestamp,
    ) -> Result<Vec<u8>, AuthFailure> {
        let signature = header(&self.signature_header)
            .ok_or_else(|| AuthFailure::MissingHeader(self.signature_header.clone()))?;
        let timestamp = if self.is_timed() {
            let raw = header(&self.timestamp_header)
                .ok_or_else(|| AuthFailure::MissingHeader(self.timestamp_header.clone()))?;
            check_fresh(raw, now, self.max_skew_seconds)?;
            raw
        } else {
            ""
        };
        let expected = self.decode_signature(signature)?;
        let mut mac = AnyMac::new(self.algorithm, self.secret.expose_bytes());
        feed_payload(&mut mac, &self.payload_format, req, timestamp);
        let mac = mac.finalize();
        if mac.ct_eq(&expected).into() {
            Ok(mac)
        } else {
            Err(AuthFailure::BadSignature)
        }
    }

    fn decode_signature(&self, raw: &str) -> Result<Vec<u8>, AuthFailure> {
        let mut value = raw.trim();
        if let Some(prefix) = self.prefix.as_deref().filter(|p| !p.is_empty())
            && let Some(head) = value.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            value = &value[prefix.len()..];
        }
        match self.encoding {
            SignatureEncoding::Hex => {
                hex::decode(value).map_err(|_| AuthFailure::Malformed("signature is not hex"))
            }
            SignatureEncoding::Base64 => {
                let alphabet = if value.contains(['-', '_']) {
                    &alphabet::URL_SAFE
                } else {
                    &alphabet::STANDARD
                };
                let config = GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
                GeneralPurpose::new(alphabet, config)
                    .decode(value)
                    .map_err(|_| AuthFailure::Malformed("signature is not base64"))
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HmacAlgorithm {
    #[default]
    Sha256,
    Sha512,
    Sha1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureEncoding {
    #[default]
    Hex,
    Base64,
}

use crate::secret::Secret;

/// What verification needs of the request besides its headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub body: &'a [u8],
}

/// Why a request was refused. The text names headers, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing header {0}")]
    MissingHeader(String),
    #[error("malformed authentication: {0}")]
    Malformed(&'static str),
    #[error("timestamp is outside the allowed window")]
    StaleTimestamp,
    #[error("signature does not match the request")]
    BadSignature,
    #[error("wrong secret")]
    WrongSecret,
    #[error("signature was already used (replay)")]
    Replayed,
}

impl AuthMode {
    /// Checks one request. `header` looks a header up by its lowercase name (the values it
    /// returns may borrow from the request, hence `'h`).
    pub fn verify<'h>(
        &self,
        req: &RequestParts<'_>,
        header: &dyn Fn(&str) -> Option<&'h str>,
        now: jiff::Timestamp,
    ) -> Result<(), AuthFailure> {
        match self {
            AuthMode::Hmac(config) => config.verify(req, header, now).map(drop),
            AuthMode::SecretHeader {
                header: name,
                secret,
            } => {
                let sent = header(name).ok_or_else(|| AuthFailure::MissingHeader(name.clone()))?;
                constant_time_match(sent.trim().as_bytes(), secret)
            }
            AuthMode::Bearer { token } => {
                let sent = header("authorization")
                    .ok_or_else(|| AuthFailure::MissingHeader("authorization".into()))?;
                let sent = sent.trim();
                let (scheme, rest) = sent.split_once(' ').unwrap_or((sent, ""));
                if !scheme.eq_ignore_ascii_case("bearer") {
                    return Err(AuthFailure::Malformed(
                        "authorization is not a Bearer token",
                    ));
                }
                constant_time_match(rest.trim().as_bytes(), token)
            }
        }
    }

    /// [`verify`](Self::verify), and for HMAC also refuses a signature this task already
    /// accepted within its window ([`AuthFailure::Replayed`]); returns the signature, for the
    /// other tasks' memory ([`SeenSignatures::first_use_anywhere`]). A refused request is not
    /// remembered.
    pub fn verify_once<'h>(
        &self,
        req: &RequestParts<'_>,
        header: &dyn Fn(&str) -> Option<&'h str>,
        now: jiff::Timestamp,
        seen: &SeenSignatures,
    ) -> Result<Option<Vec<u8>>, AuthFailure> {
        match self {
            AuthMode::Hmac(config) => {
                let mac = config.verify(req, header, now)?;
                if seen.first_use(&mac) {
                    Ok(Some(mac))
                } else {
                    Err(AuthFailure::Replayed)
                }
            }
            _ => self.verify(req, header, now).map(|()| None),
        }
    }

    /// The same mode and settings, with `secret` as the key (a practice's own Vapi credential).
    pub fn with_secret(&self, secret: Secret) -> AuthMode {
        match self {
            AuthMode::Hmac(config) => AuthMode::Hmac(HmacConfig {
                secret,
                ..config.clone()
            }),
            AuthMode::SecretHeader { header, .. } => AuthMode::SecretHeader {
                header: header.clone(),
                secret,
            },
            AuthMode::Bearer { .. } => AuthMode::Bearer { token: secret },
        }
    }

    /// How long a signature stays fresh either side of now (the replay memory's window).
    pub fn max_skew(&self) -> std::time::Duration {
        match self {
            AuthMode::Hmac(config) => std::time::Duration::from_secs(config.max_skew_seconds),
            _ => std::time::Duration::from_secs(300),
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            AuthMode::Hmac(_) => "hmac",
            AuthMode::SecretHeader { .. } => "secret-header",
            AuthMode::Bearer { .. } => "bearer",
        }
    }
}

fn constant_time_match(sent: &[u8], secret: &Secret) -> Result<(), AuthFailure> {
    if secret.matches(sent) {
        Ok(())
    } else {
        Err(AuthFailure::WrongSecret)
    }
}

/// Accepts seconds or milliseconds since the epoch (values above 10^11 are milliseconds).
fn check_fresh(raw: &str, now: jiff::Timestamp, max_skew_seconds: u64) -> Result<(), AuthFailure> {
    let raw = raw.trim();
    let value: f64 = match raw.parse::<i64>() {
        Ok(v) => v as f64,
        Err(_) => raw
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or(AuthFailure::Malformed("timestamp is not a number"))?,
    };
    let millis = if value.abs() > 1e11 {
        value
    } else {
        value * 1000.0
    };
    let skew = (millis - now.as_millisecond() as f64).abs();
    if skew > max_skew_seconds as f64 * 1000.0 {
        Err(AuthFailure::StaleTimestamp)
    } else {
        Ok(())
    }
}

/// Feeds the payload to the MAC piece by piece: literal text between placeholders, then each
/// placeholder's value, so the body is never copied. Unknown `{...}` stays literal.
fn feed_payload(mac: &mut AnyMac, format: &str, req: &RequestParts<'_>, timestamp: &str) {
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let (value, len): (&[u8], usize) = if after.starts_with("{body}") {
            (req.body, "{body}".len())
        } else if after.starts_with("{timestamp}") {
            (timestamp.as_bytes(), "{timestamp}".len())
        } else if after.starts_with("{method}") {
            (req.method.as_bytes(), "{method}".len())
        } else if after.starts_with("{url}") {
            (req.url.as_bytes(), "{url}".len())
        } else {
            mac.update(&rest.as_bytes()[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        mac.update(&rest.as_bytes()[..open]);
        mac.update(value);
        rest = &rest[open + len..];
    }
    mac.update(rest.as_bytes());
}

enum AnyMac {
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
    Sha1(Hmac<sha1::Sha1>),
}

impl AnyMac {
    fn new(algorithm: HmacAlgorithm, key: &[u8]) -> Self {
        const ANY_KEY: &str = "HMAC accepts keys of any length";
        match algorithm {
            HmacAlgorithm::Sha256 => Self::Sha256(Hmac::new_from_slice(key).expect(ANY_KEY)),
            HmacAlgorithm::Sha512 => Self::Sha512(Hmac::new_from_slice(key).expect(ANY_KEY)),
            HmacAlgorithm::Sha1 => Self::Sha1(Hmac::new_from_slice(key).expect(ANY_KEY)),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(m) => m.update(data),
            Self::Sha512(m) => m.update(data),
            Self::Sha1(m) => m.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Self::Sha256(m) => m.finalize().into_bytes().to_vec(),
            Self::Sha512(m) => m.finalize().into_bytes().to_vec(),
            Self::Sha1(m) => m.finalize().into_bytes().to_vec(),
        }
    }
}

pub use super::auth_env::{AuthConfigError, from_env};

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
