//! Reading the request-verification settings from `VAPI_*` environment variables, with an error
//! that names the variable and the form it expects (and never echoes the secret).

use base64::Engine as _;

use super::auth::{AuthMode, HmacAlgorithm, HmacConfig, SignatureEncoding};
use crate::secret::Secret;

/// A `VAPI_*` variable holds something unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value} is invalid: expected {expected}")]
pub struct AuthConfigError {
    pub variable: &'static str,
    /// The value as given (`[redacted]` for the secret itself).
    pub value: String,
    pub expected: &'static str,
}

const HEADER_NAME: &str = "an HTTP header name (letters, digits and -)";

/// Reads the verification settings. `Ok(None)` when `VAPI_WEBHOOK_SECRET` is absent or empty:
/// the caller must then refuse tool routes rather than accept unauthenticated requests.
///
/// `VAPI_AUTH_MODE` = `hmac` (default) | `secret` | `bearer`; for hmac `VAPI_HMAC_ALGORITHM`,
/// `VAPI_SIGNATURE_HEADER`, `VAPI_TIMESTAMP_HEADER`, `VAPI_PAYLOAD_FORMAT`,
/// `VAPI_SIGNATURE_ENCODING`, `VAPI_SIGNATURE_PREFIX`, `VAPI_SECRET_IS_BASE64`,
/// `VAPI_MAX_SKEW_SECONDS`, `VAPI_ALLOW_UNTIMED_SIGNATURES` (required, `true`, for a payload
/// format without `{timestamp}`); for secret `VAPI_SECRET_HEADER` (default `x-vapi-secret`).
pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<AuthMode>, AuthConfigError> {
    // Blank values count as unset; everything but the secret is trimmed.
    let var = |name: &str| {
        get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(secret) = get("VAPI_WEBHOOK_SECRET").filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let bad = |variable: &'static str, value: &str, expected: &'static str| AuthConfigError {
        variable,
        value: value.to_owned(),
        expected,
    };

    let mode = var("VAPI_AUTH_MODE").unwrap_or_else(|| "hmac".into());
    match mode.to_ascii_lowercase().as_str() {
        "hmac" => {}
        "secret" => {
            let header = header_name(var("VAPI_SECRET_HEADER"), "VAPI_SECRET_HEADER")?
                .unwrap_or_else(|| "x-vapi-secret".into());
            return Ok(Some(AuthMode::SecretHeader {
                header,
                secret: Secret::new(secret.trim()),
            }));
        }
        "bearer" => {
            return Ok(Some(AuthMode::Bearer {
                token: Secret::new(secret.trim()),
            }));
        }
        _ => {
            return Err(bad("VAPI_AUTH_MODE", &mode, "one of hmac, secret, bearer"));
        }
    }

    let secret_is_base64 = match var("VAPI_SECRET_IS_BASE64") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(bad("VAPI_SECRET_IS_BASE64", &v, "true or false")),
    };
    let key = if secret_is_base64 {
        base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|_| {
                bad(
                    "VAPI_WEBHOOK_SECRET",
                    "[redacted]",
                    "base64 text, since VAPI_SECRET_IS_BASE64=true",
                )
            })?
    } else {
        secret.trim().as_bytes().to_vec()
    };

    let mut config = HmacConfig::new(Secret::new(key));
    if let Some(v) = var("VAPI_HMAC_ALGORITHM") {
        config.algorithm = match v.to_ascii_lowercase().as_str() {
            "sha256" => HmacAlgorithm::Sha256,
            "sha512" => HmacAlgorithm::Sha512,
            "sha1" => HmacAlgorithm::Sha1,
            _ => {
                return Err(bad(
                    "VAPI_HMAC_ALGORITHM",
                    &v,
                    "one of sha256, sha512, sha1",
                ));
            }
        };
    }
    if let Some(v) = var("VAPI_SIGNATURE_ENCODING") {
        config.encoding = match v.to_ascii_lowercase().as_str() {
            "hex" => SignatureEncoding::Hex,
            "base64" => SignatureEncoding::Base64,
            _ => return Err(bad("VAPI_SIGNATURE_ENCODING", &v, "one of hex, base64")),
        };
    }
    if let Some(h) = header_name(var("VAPI_SIGNATURE_HEADER"), "VAPI_SIGNATURE_HEADER")? {
        config.signature_header = h;
    }
    if let Some(h) = header_name(var("VAPI_TIMESTAMP_HEADER"), "VAPI_TIMESTAMP_HEADER")? {
        config.timestamp_header = h;
    }
    if let Some(v) = var("VAPI_PAYLOAD_FORMAT") {
        if !v.contains("{body}") {
            return Err(bad(
                "VAPI_PAYLOAD_FORMAT",
                &v,
                "a format that signs the body, such as {timestamp}.{body}",
            ));
        }
        config.payload_format = v;
    }
    let allow_untimed = match var("VAPI_ALLOW_UNTIMED_SIGNATURES") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(v) => return Err(bad("VAPI_ALLOW_UNTIMED_SIGNATURES", &v, "true or false")),
    };
    if !config.is_timed() && !allow_untimed {
        return Err(bad(
            "VAPI_PAYLOAD_FORMAT",
            &config.payload_format,
            "a format that signs {timestamp} (without it a captured request stays valid \
             forever); set VAPI_ALLOW_UNTIMED_SIGNATURES=true to accept it anyway",
        ));
    }
    config.prefix = var("VAPI_SIGNATURE_PREFIX");
    if let Some(v) = var("VAPI_MAX_SKEW_SECONDS") {
        config.max_skew_seconds = v
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=86_400).contains(s))
            .ok_or_else(|| {
                bad(
                    "VAPI_MAX_SKEW_SECONDS",
                    &v,
                    "a whole number of seconds from 1 to 86400",
                )
            })?;
    }
    Ok(Some(AuthMode::Hmac(config)))
}

fn header_name(
    value: Option<String>,
    variable: &'static str,
) -> Result<Option<String>, AuthConfigError> {
    match value {
        None => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            Ok(Some(v.to_ascii_lowercase()))
        }
        Some(v) => Err(AuthConfigError {
            variable,
            value: v,
            expected: HEADER_NAME,
        }),
    }
}
