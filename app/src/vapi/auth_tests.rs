//! Tests of request verification and its configuration. Expected signatures were computed
//! independently (Python's `hmac`), so these check interoperability, not just a round trip.

use std::collections::HashMap;

use super::*;

const BODY: &[u8] = br#"{"message":{"type":"tool-calls","toolCallList":[]}}"#;
const TS: &str = "1728393715";
const SHA256_HEX: &str = "34ce2fe6b622579e24bf54a011c1d69a80203c05e38269abca90a16b874bc907";

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap()
}

fn now() -> jiff::Timestamp {
    at(1_728_393_715)
}

fn req(body: &[u8]) -> RequestParts<'_> {
    RequestParts {
        method: "POST",
        url: "https://gw.example.com/vapi/tools/book?x={y}",
        body,
    }
}

fn check(mode: &AuthMode, body: &[u8], headers: &[(&str, &str)]) -> Result<(), AuthFailure> {
    let map: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    mode.verify(&req(body), &|name| map.get(name).map(String::as_str), now())
}

fn hmac(edit: impl FnOnce(&mut HmacConfig)) -> AuthMode {
    let mut config = HmacConfig::new(Secret::new("whsec_test"));
    edit(&mut config);
    AuthMode::Hmac(config)
}

#[test]
fn a_default_hmac_signature_is_accepted() {
    let mode = hmac(|_| {});
    assert_eq!(
        check(
            &mode,
            BODY,
            &[("x-signature", SHA256_HEX), ("x-timestamp", TS)]
        ),
        Ok(())
    );
    let upper = SHA256_HEX.to_ascii_uppercase();
    assert_eq!(
        check(&mode, BODY, &[("x-signature", &upper), ("x-timestamp", TS)]),
        Ok(())
    );
    assert_eq!(mode.describe(), "hmac");
}

#[test]
fn sha512_base64_sha1_prefix_and_base64_secrets_verify() {
    let sha512 = hmac(|c| {
        c.algorithm = HmacAlgorithm::Sha512;
        c.encoding = SignatureEncoding::Base64;
    });
    let sig512 =
        "pbN3wew4u5DXwf+Apa++44xpC7pYNDQyBDNEN8tCZapImcoJD25F7buUCIgAlol2IEYlYqvpb2AcCveMjFJ1OA==";
    assert_eq!(
        check(
            &sha512,
            BODY,
            &[("x-signature", sig512), ("x-timestamp", TS)]
        ),
        Ok(())
    );
    let unpadded = sig512.trim_end_matches('=');
    assert_eq!(
        check(
            &sha512,
            BODY,
            &[("x-signature", unpadded), ("x-timestamp", TS)]
        ),
        Ok(())
    );

    let sha1 = hmac(|c| {
        c.algorithm = HmacAlgorithm::Sha1;
        c.prefix = Some("sha1=".into());
        c.signature_header = "x-hub-signature".into();
    });
    let sig1 = "sha1=9d6bca9bc7b4b46c6bcfb33039124a7a2cb186b9";
    assert_eq!(
        check(
            &sha1,
            BODY,
            &[("X-Hub-Signature", sig1), ("x-timestamp", TS)]
        ),
        Ok(())
    );

    let env = |name: &str| match name {
        "VAPI_WEBHOOK_SECRET" => Some("AAFiaW5hcnkta2V5/w==".to_string()),
        "VAPI_SECRET_IS_BASE64" => Some("true".to_string()),
        _ => None,
    };
    let binary = from_env(&env).unwrap().unwrap();
    let sig = "ae248387fd781f67cd6489c8cc0e04e5b5fd53746a9b2770838b88c3efd1c288";
    assert_eq!(
        check(&binary, BODY, &[("x-signature", sig), ("x-timestamp", TS)]),
        Ok(())
    );
}

#[test]
fn method_and_url_formats_verify_and_the_timestamp_is_optional_when_unsigned() {
    let full = hmac(|c| c.payload_format = "{method}\n{url}\n{timestamp}\n{body}".into());
    let sig = "2b65f4735eeb8060b75bc31c88e5cc773bdb4f43dac8c64ce727be09319eae95";
    assert_eq!(
        check(&full, BODY, &[("x-signature", sig), ("x-timestamp", TS)]),
        Ok(())
    );

    let body_only = hmac(|c| c.payload_format = "{body}".into());
    let sig = "9dca82f1f8dff8882b5821cb0a8c309b5e258a6d72b22f99b16fd49739ed30e3";
    assert_eq!(check(&body_only, BODY, &[("x-signature", sig)]), Ok(()));
}

#[test]
fn a_wrong_signature_or_tampered_body_is_refused() {
    let mode = hmac(|_| {});
    let mut wrong = SHA256_HEX.to_string();
    wrong.replace_range(..2, "00");
    assert_eq!(
        check(&mode, BODY, &[("x-signature", &wrong), ("x-timestamp", TS)]),
        Err(AuthFailure::BadSignature)
    );
    let tampered = br#"{"message":{"type":"tool-calls","toolCallList":[1]}}"#;
    assert_eq!(
        check(
            &mode,
            tampered,
            &[("x-signature", SHA256_HEX), ("x-timestamp", TS)]
        ),
        Err(AuthFailure::BadSignature)
    );
    // Re-using a signature with another timestamp (within the window) fails too.
    assert_eq!(
        check(
            &mode,
            BODY,
            &[("x-signature", SHA256_HEX), ("x-timestamp", "1728393716")]
        ),
        Err(AuthFailure::BadSignature)
    );
    assert_eq!(
        check(&mode, BODY, &[("x-signature", "zz"), ("x-timestamp", TS)]),
        Err(AuthFailure::Malformed("signature is not hex"))
    );
    assert_eq!(
        check(
            &mode,
            BODY,
            &[("x-signature", &SHA256_HEX[..32]), ("x-timestamp", TS)]
        ),
        Err(AuthFailure::BadSignature)
    );
    let other_key = AuthMode::Hmac(HmacConfig::new(Secret::new("another")));
    assert_eq!(
        check(
            &other_key,
            BODY,
            &[("x-signature", SHA256_HEX), ("x-timestamp", TS)]
        ),
        Err(AuthFailure::BadSignature)
    );
}

#[test]
fn stale_timestamps_are_refused_in_both_directions_in_seconds_or_milliseconds() {
    let config = HmacConfig::new(Secret::new("whsec_test"));
    let mode = AuthMode::Hmac(config.clone());
    let verify_at = |ts: &str, now: jiff::Timestamp| {
        let sig = config.sign(&req(BODY), ts);
        let headers = |name: &str| match name {
            "x-signature" => Some(sig.as_str()),
            "x-timestamp" => Some(ts),
            _ => None,
        };
        mode.verify(&req(BODY), &headers, now)
    };
    let base = 1_728_393_715;
    assert_eq!(verify_at(TS, at(base + 300)), Ok(()));
    assert_eq!(verify_at(TS, at(base - 300)), Ok(()));
    assert_eq!(
        verify_at(TS, at(base + 301)),
        Err(AuthFailure::StaleTimestamp)
    );
    assert_eq!(
        verify_at(TS, at(base - 301)),
        Err(AuthFailure::StaleTimestamp)
    );
    assert_eq!(verify_at("1728393715369", at(base)), Ok(()));
    assert_eq!(
        verify_at("1728393715369", at(base + 400)),
        Err(AuthFailure::StaleTimestamp)
    );
    assert_eq!(
        verify_at("1728393015369", at(base)),
        Err(AuthFailure::StaleTimestamp)
    );
    assert_eq!(
        verify_at("yesterday", at(base)),
        Err(AuthFailure::Malformed("timestamp is not a number"))
    );
}

#[test]
fn missing_headers_are_named() {
    let mode = hmac(|_| {});
    assert_eq!(
        check(&mode, BODY, &[("x-timestamp", TS)]),
        Err(AuthFailure::MissingHeader("x-signature".into()))
    );
    assert_eq!(
        check(&mode, BODY, &[("x-signature", SHA256_HEX)]),
        Err(AuthFailure::MissingHeader("x-timestamp".into()))
    );
    let bearer = AuthMode::Bearer {
        token: Secret::new("tok"),
    };
    assert_eq!(
        check(&bearer, BODY, &[]),
        Err(AuthFailure::MissingHeader("authorization".into()))
    );
}

#[test]
fn the_secret_header_must_match_exactly() {
    let mode = AuthMode::SecretHeader {
        header: "x-vapi-secret".into(),
        secret: Secret::new("s3cret"),
    };
    assert_eq!(check(&mode, BODY, &[("X-Vapi-Secret", "s3cret")]), Ok(()));
    assert_eq!(
        check(&mode, BODY, &[("x-vapi-secret", "s3cre")]),
        Err(AuthFailure::WrongSecret)
    );
    assert_eq!(
        check(&mode, BODY, &[]),
        Err(AuthFailure::MissingHeader("x-vapi-secret".into()))
    );
    assert_eq!(mode.describe(), "secret-header");
}

#[test]
fn bearer_tokens_accept_any_scheme_case() {
    let mode = AuthMode::Bearer {
        token: Secret::new("tok_123"),
    };
    assert_eq!(
        check(&mode, BODY, &[("authorization", "Bearer tok_123")]),
        Ok(())
    );
    assert_eq!(
        check(&mode, BODY, &[("authorization", "bearer  tok_123")]),
        Ok(())
    );
    assert_eq!(
        check(&mode, BODY, &[("authorization", "Bearer tok_124")]),
        Err(AuthFailure::WrongSecret)
    );
    assert_eq!(
        check(&mode, BODY, &[("authorization", "Basic dG9rXzEyMw==")]),
        Err(AuthFailure::Malformed(
            "authorization is not a Bearer token"
        ))
    );
    assert_eq!(mode.describe(), "bearer");
}

#[test]
fn secrets_and_signatures_never_appear_in_debug_or_failures() {
    let mode = hmac(|_| {});
    assert!(!format!("{mode:?}").contains("whsec_test"));
    assert!(format!("{mode:?}").contains("[secret]"));
    let failure = check(&mode, BODY, &[("x-signature", "ab"), ("x-timestamp", TS)]).unwrap_err();
    assert!(!failure.to_string().contains("ab"), "{failure}");
}

fn env(vars: &[(&str, &str)]) -> Result<Option<AuthMode>, AuthConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    from_env(&|name| map.get(name).cloned())
}

#[test]
fn without_a_secret_there_is_no_auth_mode() {
    assert!(env(&[]).unwrap().is_none());
    assert!(env(&[("VAPI_WEBHOOK_SECRET", "  ")]).unwrap().is_none());
}

#[test]
fn the_environment_selects_and_tunes_each_mode() {
    let Some(AuthMode::Hmac(c)) = env(&[
        ("VAPI_WEBHOOK_SECRET", "whsec_test\n"),
        ("VAPI_HMAC_ALGORITHM", "SHA512"),
        ("VAPI_SIGNATURE_HEADER", "X-Sig"),
        ("VAPI_TIMESTAMP_HEADER", "X-Ts"),
        ("VAPI_PAYLOAD_FORMAT", "{timestamp}:{body}"),
        ("VAPI_SIGNATURE_ENCODING", "base64"),
        ("VAPI_SIGNATURE_PREFIX", "v1="),
        ("VAPI_MAX_SKEW_SECONDS", "60"),
    ])
    .unwrap() else {
        panic!("hmac expected")
    };
    assert_eq!(c.algorithm, HmacAlgorithm::Sha512);
    assert_eq!(
        (c.signature_header.as_str(), c.timestamp_header.as_str()),
        ("x-sig", "x-ts")
    );
    assert_eq!(c.payload_format, "{timestamp}:{body}");
    assert_eq!(c.encoding, SignatureEncoding::Base64);
    assert_eq!(c.prefix.as_deref(), Some("v1="));
    assert_eq!(c.max_skew_seconds, 60);
    assert_eq!(c.secret, Secret::new("whsec_test"));

    let secret = env(&[("VAPI_WEBHOOK_SECRET", "s"), ("VAPI_AUTH_MODE", "secret")]).unwrap();
    assert!(
        matches!(secret, Some(AuthMode::SecretHeader { ref header, .. }) if header == "x-vapi-secret")
    );
    let bearer = env(&[("VAPI_WEBHOOK_SECRET", "s"), ("VAPI_AUTH_MODE", "Bearer")]).unwrap();
    assert!(matches!(bearer, Some(AuthMode::Bearer { .. })));
}

#[test]
fn each_bad_setting_names_the_variable_and_the_expected_form() {
    let cases = [
        (
            "VAPI_AUTH_MODE",
            "foo",
            "VAPI_AUTH_MODE=foo is invalid: expected one of hmac, secret, bearer",
        ),
        (
            "VAPI_HMAC_ALGORITHM",
            "md5",
            "VAPI_HMAC_ALGORITHM=md5 is invalid: expected one of sha256, sha512, sha1",
        ),
        (
            "VAPI_SIGNATURE_ENCODING",
            "b32",
            "VAPI_SIGNATURE_ENCODING=b32 is invalid: expected one of hex, base64",
        ),
        (
            "VAPI_SECRET_IS_BASE64",
            "yes",
            "VAPI_SECRET_IS_BASE64=yes is invalid: expected true or false",
        ),
        (
            "VAPI_MAX_SKEW_SECONDS",
            "5m",
            "VAPI_MAX_SKEW_SECONDS=5m is invalid: expected a whole number of seconds from 1 to 86400",
        ),
        (
            "VAPI_MAX_SKEW_SECONDS",
            "0",
            "VAPI_MAX_SKEW_SECONDS=0 is invalid: expected a whole number of seconds from 1 to 86400",
        ),
        (
            "VAPI_SIGNATURE_HEADER",
            "x sig",
            "VAPI_SIGNATURE_HEADER=x sig is invalid: expected an HTTP header name (letters, digits and -)",
        ),
        (
            "VAPI_TIMESTAMP_HEADER",
            "x:ts",
            "VAPI_TIMESTAMP_HEADER=x:ts is invalid: expected an HTTP header name (letters, digits and -)",
        ),
        (
            "VAPI_PAYLOAD_FORMAT",
            "{timestamp}",
            "VAPI_PAYLOAD_FORMAT={timestamp} is invalid: expected a format that signs the body, such as {timestamp}.{body}",
        ),
    ];
    for (variable, value, message) in cases {
        let err = env(&[("VAPI_WEBHOOK_SECRET", "s"), (variable, value)]).unwrap_err();
        assert_eq!(err.variable, variable);
        assert_eq!(err.to_string(), message);
    }
    let err = env(&[
        ("VAPI_WEBHOOK_SECRET", "s"),
        ("VAPI_AUTH_MODE", "secret"),
        ("VAPI_SECRET_HEADER", "bad header"),
    ])
    .unwrap_err();
    assert_eq!(err.variable, "VAPI_SECRET_HEADER");
    let err = env(&[
        ("VAPI_WEBHOOK_SECRET", "not*base64!"),
        ("VAPI_SECRET_IS_BASE64", "true"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "VAPI_WEBHOOK_SECRET=[redacted] is invalid: expected base64 text, since VAPI_SECRET_IS_BASE64=true"
    );
}

#[test]
fn a_payload_format_without_a_timestamp_needs_an_explicit_opt_in() {
    let err = env(&[
        ("VAPI_WEBHOOK_SECRET", "whsec_test"),
        ("VAPI_PAYLOAD_FORMAT", "{body}"),
    ])
    .unwrap_err();
    assert_eq!(err.variable, "VAPI_PAYLOAD_FORMAT");
    assert!(
        err.to_string()
            .contains("VAPI_ALLOW_UNTIMED_SIGNATURES=true"),
        "{err}"
    );
    let Some(AuthMode::Hmac(c)) = env(&[
        ("VAPI_WEBHOOK_SECRET", "whsec_test"),
        ("VAPI_PAYLOAD_FORMAT", "{body}"),
        ("VAPI_ALLOW_UNTIMED_SIGNATURES", "true"),
    ])
    .unwrap() else {
        panic!("hmac expected")
    };
    assert!(!c.is_timed());
}

#[test]
fn a_signature_verifies_once_within_its_window() {
    let mode = hmac(|_| {});
    let seen = crate::vapi::replay::SeenSignatures::new(std::time::Duration::from_secs(300));
    let map: HashMap<String, String> = [("x-signature", SHA256_HEX), ("x-timestamp", TS)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |name: &str| map.get(name).map(String::as_str);
    assert!(
        mode.verify_once(&req(BODY), &lookup, now(), &seen)
            .is_ok_and(|mac| mac.is_some())
    );
    assert_eq!(
        mode.verify_once(&req(BODY), &lookup, now(), &seen),
        Err(AuthFailure::Replayed)
    );
    // A refused request is not remembered: a forged signature never blocks the real one.
    let other = crate::vapi::replay::SeenSignatures::new(std::time::Duration::from_secs(300));
    let bad: HashMap<String, String> =
        [("x-signature", "00".repeat(32)), ("x-timestamp", TS.into())]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    let bad_lookup = |name: &str| bad.get(name).map(String::as_str);
    assert!(
        mode.verify_once(&req(BODY), &bad_lookup, now(), &other)
            .is_err()
    );
    assert!(mode.verify_once(&req(BODY), &lookup, now(), &other).is_ok());
}
