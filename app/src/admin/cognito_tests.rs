//! The verifier against a JWKS served by wiremock, with keys generated here and tokens signed
//! here: key rotation is picked up (one refetch, however many tokens ask), a token that is not
//! RS256 is refused before any key is fetched, and `exp` is judged by the clock given.

use std::time::{Duration, Instant};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RSA_PKCS1_SHA256},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jiff::Timestamp;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::path};

use super::*;

const POOL: &str = "/us-east-1_unit";
const CLIENT: &str = "unit-client";

struct Key(&'static str, KeyPair);

impl Key {
    fn new(kid: &'static str) -> Self {
        Self(kid, KeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    fn jwk(&self) -> Value {
        let public = self.1.public_key();
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.0,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": self.0});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.1.public_modulus_len()];
        self.1
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

const NOW: i64 = 1_800_000_000;

fn claims(issuer: &str, exp: i64) -> Value {
    json!({"sub": "s-1", "iss": issuer, "client_id": CLIENT, "token_use": "access", "exp": exp})
}

async fn serve(server: &MockServer, keys: &[&Key]) {
    server.reset().await;
    let set = json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    Mock::given(path(format!("{POOL}/.well-known/jwks.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(set))
        .mount(server)
        .await;
}

async fn fetches(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

fn verifier(server: &MockServer, interval: Duration) -> (CognitoVerifier, String) {
    let issuer = format!("{}{POOL}", server.uri());
    let settings = CognitoSettings {
        issuer: issuer.clone(),
        client_id: CLIENT.into(),
    };
    let clock = Clock::frozen(Timestamp::from_second(NOW).unwrap());
    (
        CognitoVerifier::new(settings, clock).with_refetch_interval(interval),
        issuer,
    )
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_after_the_interval_however_many_tokens_ask() {
    let server = MockServer::start().await;
    let (a, b) = (Key::new("a"), Key::new("b"));
    serve(&server, &[&a]).await;
    let (verifier, issuer) = verifier(&server, Duration::from_secs(2));
    let ok = verifier.verify(&a.sign(&claims(&issuer, NOW + 60))).await;
    assert_eq!(ok.unwrap().sub, "s-1");
    assert_eq!(fetches(&server).await, 1);

    // The pool rotates in key b. Right away, a token signed with it is unknown (the last fetch
    // was too recent); once the interval passes, one refetch finds it.
    serve(&server, &[&a, &b]).await;
    let token = b.sign(&claims(&issuer, NOW + 60));
    assert_eq!(verifier.verify(&token).await, Err(TokenError::UnknownKey));
    let deadline = Instant::now() + Duration::from_secs(10);
    while verifier.verify(&token).await.is_err() {
        assert!(Instant::now() < deadline, "key b never fetched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fetches(&server).await, 1, "one refetch since the reset");
    // Key a still verifies, from the cache.
    assert!(
        verifier
            .verify(&a.sign(&claims(&issuer, NOW + 60)))
            .await
            .is_ok()
    );
    assert_eq!(fetches(&server).await, 1);
}

#[tokio::test]
async fn only_rs256_is_accepted_and_nothing_is_fetched_for_another_algorithm() {
    let server = MockServer::start().await;
    let a = Key::new("a");
    serve(&server, &[&a]).await;
    let (verifier, issuer) = verifier(&server, REFETCH_INTERVAL);
    let body = URL_SAFE_NO_PAD.encode(claims(&issuer, NOW + 60).to_string());
    for alg in ["none", "HS256", "RS512"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "a"}).to_string());
        let token = format!("{header}.{body}.");
        assert!(
            matches!(
                verifier.verify(&token).await,
                Err(TokenError::Algorithm | TokenError::Malformed)
            ),
            "{alg}"
        );
    }
    assert_eq!(fetches(&server).await, 0);
}

#[tokio::test]
async fn exp_is_judged_by_the_clock_given() {
    let server = MockServer::start().await;
    let a = Key::new("a");
    serve(&server, &[&a]).await;
    let (verifier, issuer) = verifier(&server, REFETCH_INTERVAL);
    assert!(
        verifier
            .verify(&a.sign(&claims(&issuer, NOW + 1)))
            .await
            .is_ok()
    );
    assert_eq!(
        verifier.verify(&a.sign(&claims(&issuer, NOW))).await,
        Err(TokenError::Expired)
    );
}
