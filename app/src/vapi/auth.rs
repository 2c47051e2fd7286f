//! Verification of Vapi → gateway requests (VAPI.md §4): an HMAC signature over the raw body,
//! a static secret header, or a Bearer token, chosen per deployment ([`from_env`]). Comparisons
//! are constant-time; no failure reason or `Debug` output ever contains a secret or signature.

use std::fmt;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

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
        let mut mac = AnyMac::new(self.algorithm, &self.secret.0);
        feed_payload(&mut mac, &self.payload_format, req, timestamp);
        let tag = mac.finalize();
        let encoded = match self.encoding {
            SignatureEncoding::Hex => hex::encode(tag),
            SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        };
        format!("{}{encoded}", self.prefix.as_deref().unwrap_or(""))
    }

    fn verify<'h>(
        &self,
        req: &RequestParts<'_>,
        header: &dyn Fn(&str) -> Option<&'h str>,
        now: jiff::Timestamp,
    ) -> Result<(), AuthFailure> {
        let signature = header(&self.signature_header)
            .ok_or_else(|| AuthFailure::MissingHeader(self.signature_header.clone()))?;
        let timestamp = if self.payload_format.contains("{timestamp}") {
            let raw = header(&self.timestamp_header)
                .ok_or_else(|| AuthFailure::MissingHeader(self.timestamp_header.clone()))?;
            check_fresh(raw, now, self.max_skew_seconds)?;
            raw
        } else {
            ""
        };
        let expected = self.decode_signature(signature)?;
        let mut mac = AnyMac::new(self.algorithm, &self.secret.0);
        feed_payload(&mut mac, &self.payload_format, req, timestamp);
        if mac.finalize().ct_eq(&expected).into() {
            Ok(())
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

/// Key material. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

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
            AuthMode::Hmac(config) => config.verify(req, header, now),
            AuthMode::SecretHeader {
                header: name,
                secret,
            } => {
                let sent = header(name).ok_or_else(|| AuthFailure::MissingHeader(name.clone()))?;
                constant_time_match(sent.trim().as_bytes(), &secret.0)
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
                constant_time_match(rest.trim().as_bytes(), &token.0)
            }
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

fn constant_time_match(sent: &[u8], secret: &[u8]) -> Result<(), AuthFailure> {
    if sent.ct_eq(secret).into() {
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
