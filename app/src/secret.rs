//! The one secret type of the gateway (keys, tokens, shared secrets) and its one comparison.
//! `Debug` and `Display` print `[secret]`; the value is reached only through [`Secret::expose`] /
//! [`Secret::expose_bytes`]. [`Secret::matches`] compares in constant time over SHA-256 digests of
//! both sides, so neither the content nor the length of the secret leaks through timing.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Key material: text (a token, a shared secret) or raw bytes (a base64-decoded HMAC key).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl Secret {
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into().into_boxed_slice())
    }

    /// The secret as text, for an HTTP header or request body only. A secret made from bytes
    /// that are not UTF-8 (a decoded HMAC key, which is only ever fed to the MAC) reads as "".
    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The key bytes, for a MAC.
    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `given` is this secret: constant time over the SHA-256 digests of both, so the
    /// time taken says nothing about how much of `given` was right, nor about the length.
    pub fn matches(&self, given: &[u8]) -> bool {
        same(given, &self.0)
    }
}

/// The one constant-time comparison of secret values (also for values that are not kept as a
/// [`Secret`], such as an application id): over SHA-256 digests, so the length does not leak.
pub fn same(given: &[u8], expected: &[u8]) -> bool {
    Sha256::digest(given)
        .ct_eq(&Sha256::digest(expected))
        .into()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[secret]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(&self.0))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let s = Secret::new("whsec_very_secret");
        assert_eq!(format!("{s:?} {s}"), "[secret] [secret]");
        assert_eq!(format!("{:?}", Some(s)), "Some([secret])");
    }

    #[test]
    fn matches_only_the_exact_secret() {
        let s = Secret::new("abc123");
        assert!(s.matches(b"abc123"));
        for wrong in [&b""[..], b"abc", b"abc1234", b"abc124", b"ABC123"] {
            assert!(!s.matches(wrong), "{wrong:?}");
        }
        assert!(Secret::new(vec![0xff, 0x00]).matches(&[0xff, 0x00]));
    }

    #[test]
    fn round_trips_as_a_json_string() {
        let s: Secret = serde_json::from_str("\"k-1\"").unwrap();
        assert_eq!(s.expose(), "k-1");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"k-1\"");
    }
}
