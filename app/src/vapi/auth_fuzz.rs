//! Property tests of request verification ([`super::auth::AuthMode::verify`]) with many cases:
//! whatever the headers hold (any text, any length, any encoding) and whatever the plan's
//! settings, verification answers and never panics; a request signed the way Vapi signs it
//! verifies under every plan; and any change to the body, the signature or the timestamp, or a
//! stale timestamp, is refused.

use std::collections::HashMap;

use proptest::prelude::*;

use super::auth::{
    AuthFailure, AuthMode, HmacAlgorithm, HmacConfig, RequestParts, SignatureEncoding,
};
use crate::{
    fuzz::{BODY_CASES, byte_edit, edit_bytes},
    secret::Secret,
};

const NOW_MS: i64 = 1_790_000_000_000;

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(NOW_MS).unwrap()
}

fn plan() -> impl Strategy<Value = HmacConfig> {
    (
        prop::sample::select(vec![
            HmacAlgorithm::Sha256,
            HmacAlgorithm::Sha512,
            HmacAlgorithm::Sha1,
        ]),
        prop::sample::select(vec![SignatureEncoding::Hex, SignatureEncoding::Base64]),
        prop::option::of(prop::sample::select(vec!["sha256=", "v1,", "X"])),
        prop::sample::select(vec![
            "{timestamp}.{body}",
            "{timestamp}{body}",
            "{method} {url}\n{timestamp}\n{body}",
            "{body}.{timestamp}.{unknown}{",
        ]),
        prop::collection::vec(any::<u8>(), 0..80),
        1..600u64,
    )
        .prop_map(|(algorithm, encoding, prefix, format, key, skew)| {
            let mut plan = HmacConfig::new(Secret::new(key));
            plan.algorithm = algorithm;
            plan.encoding = encoding;
            plan.prefix = prefix.map(str::to_owned);
            plan.payload_format = format.to_owned();
            plan.max_skew_seconds = skew;
            plan
        })
}

fn check(
    mode: &AuthMode,
    body: &[u8],
    headers: &HashMap<String, String>,
) -> Result<(), AuthFailure> {
    let req = RequestParts {
        method: "POST",
        url: "https://gw.example.com/vapi/tools/list_providers",
        body,
    };
    mode.verify(&req, &|name| headers.get(name).map(String::as_str), now())
}

/// Header values: arbitrary text, numbers near and far from now, hex and base64 lookalikes.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,300}",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        (NOW_MS - 1_000_000..NOW_MS + 1_000_000).prop_map(|ms| ms.to_string()),
        "[0-9a-fA-F]{0,200}",
        "[A-Za-z0-9+/_-]{0,120}={0,3}",
        "(sha256=|v1,|X|Bearer |bearer )?\\PC{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(BODY_CASES))]

    #[test]
    fn any_headers_under_any_plan_are_answered_never_a_panic(
        plan in plan(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        signature in prop::option::of(header_value()),
        timestamp in prop::option::of(header_value()),
        other in header_value(),
    ) {
        let mut headers = HashMap::new();
        if let Some(s) = signature {
            headers.insert(plan.signature_header.clone(), s);
        }
        if let Some(t) = timestamp {
            headers.insert(plan.timestamp_header.clone(), t);
        }
        headers.insert("authorization".to_owned(), other.clone());
        headers.insert("x-vapi-secret".to_owned(), other);
        let secret = plan.secret.clone();
        let modes = [
            AuthMode::Hmac(plan),
            AuthMode::SecretHeader { header: "x-vapi-secret".into(), secret: secret.clone() },
            AuthMode::Bearer { token: secret },
        ];
        for mode in &modes {
            // Random values are never the secret (an 80-byte key is not guessed), except the
            // empty key, which no deployment has (an empty secret turns the routes off).
            let _ = check(mode, &body, &headers);
        }
    }

    #[test]
    fn signed_as_vapi_signs_verifies_and_any_change_is_refused(
        plan in plan(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        skew in -0.95f64..0.95,
        in_millis in any::<bool>(),
        edits in prop::collection::vec(byte_edit(), 1..4),
    ) {
        // Anywhere inside the plan's window, in seconds or in milliseconds.
        let skew_ms = (skew * (plan.max_skew_seconds as f64 - 1.0) * 1000.0) as i64;
        let at_ms = NOW_MS + skew_ms;
        let timestamp = if in_millis { at_ms.to_string() } else { (at_ms / 1000).to_string() };
        let req = RequestParts {
            method: "POST",
            url: "https://gw.example.com/vapi/tools/list_providers",
            body: &body,
        };
        let signature = plan.sign(&req, &timestamp);
        let headers = HashMap::from([
            (plan.signature_header.clone(), signature.clone()),
            (plan.timestamp_header.clone(), timestamp.clone()),
        ]);
        let mode = AuthMode::Hmac(plan.clone());
        prop_assert_eq!(check(&mode, &body, &headers), Ok(()));

        let changed = edit_bytes(body.clone(), &edits);
        if changed != body {
            prop_assert!(check(&mode, &changed, &headers).is_err(), "a changed body is refused");
        }

        // A genuine signature of another body, and a cut-down signature, are refused.
        let mut other = body.clone();
        other.push(b' ');
        let elsewhere = RequestParts { body: &other, ..req };
        let unpadded = signature.trim_end_matches('=');
        let cut = unpadded[..unpadded.len() - 2].to_owned();
        for forged in [plan.sign(&elsewhere, &timestamp), cut] {
            let mut headers = headers.clone();
            headers.insert(plan.signature_header.clone(), forged);
            prop_assert!(check(&mode, &body, &headers).is_err(), "a forged signature is refused");
        }

        if plan.payload_format.contains("{timestamp}") {
            // The same signature with another timestamp, or the right one gone stale.
            let mut moved = headers.clone();
            moved.insert(plan.timestamp_header.clone(), (at_ms / 1000 + 1).to_string());
            prop_assert!(check(&mode, &body, &moved).is_err(), "a changed timestamp is refused");
            let late_ms = at_ms + (plan.max_skew_seconds as i64 + 2) * 1000;
            let late = jiff::Timestamp::from_millisecond(late_ms).unwrap();
            let req = RequestParts { body: &body, ..req };
            let got = mode.verify(&req, &|name| headers.get(name).map(String::as_str), late);
            prop_assert_eq!(got, Err(AuthFailure::StaleTimestamp));
        }
    }

    #[test]
    fn only_the_exact_secret_opens_the_secret_and_bearer_modes(
        secret in "[!-~]{1,64}",
        sent in "\\PC{0,80}",
    ) {
        let header = AuthMode::SecretHeader { header: "x-vapi-secret".into(), secret: Secret::new(secret.clone()) };
        let bearer = AuthMode::Bearer { token: Secret::new(secret.clone()) };
        let headers = HashMap::from([
            ("x-vapi-secret".to_owned(), sent.clone()),
            ("authorization".to_owned(), format!("Bearer {sent}")),
        ]);
        let opens = sent.trim() == secret;
        prop_assert_eq!(check(&header, b"{}", &headers).is_ok(), opens);
        prop_assert_eq!(check(&bearer, b"{}", &headers).is_ok(), opens);
    }
}
