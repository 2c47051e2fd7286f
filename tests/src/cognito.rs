//! A stand-in Cognito user pool for the admin routes' tests: an RSA key generated in the test
//! (aws-lc-rs, the gateway's own crypto stack), its JWKS served on loopback at
//! `<issuer>/.well-known/jwks.json`, and tokens signed with it (RS256, built by hand: header,
//! claims, signature). [`UserPool::jwks_fetches`] counts how often the gateway fetched the keys.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RSA_PKCS1_SHA256},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{EndpointExt, Route, get, handler, listener::TcpListener, web::Data};
use serde_json::{Value, json};

/// The app client id every test gateway is configured with.
pub const CLIENT_ID: &str = "test-admin-client";

/// An RSA signing key with its key id.
pub struct SigningKey {
    pub kid: String,
    pair: KeyPair,
}

impl SigningKey {
    pub fn generate(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("generate an RSA key"),
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// A compact JWS of `claims`, RS256, naming this key.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .expect("sign");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// A user pool on loopback: its issuer URL, its published key, and the JWKS fetch count.
pub struct UserPool {
    pub issuer: String,
    pub key: SigningKey,
    fetches: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

#[handler]
fn jwks(Data(state): Data<&(Value, Arc<AtomicUsize>)>) -> poem::web::Json<Value> {
    state.1.fetch_add(1, Ordering::SeqCst);
    poem::web::Json(state.0.clone())
}

impl UserPool {
    /// Serves the JWKS of a fresh key under `/<pool id>/.well-known/jwks.json` on a free port.
    pub async fn start() -> Self {
        let key = SigningKey::generate("test-key-1");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);
        let fetches = Arc::new(AtomicUsize::new(0));
        let set = json!({"keys": [key.jwk()]});
        let app = Route::new()
            .at("/us-east-1_test/.well-known/jwks.json", get(jwks))
            .data((set, fetches.clone()));
        let server = tokio::spawn(async move {
            let _ = poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
                .run(app)
                .await;
        });
        let issuer = format!("http://127.0.0.1:{port}/us-east-1_test");
        // Ready once it answers.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the JWKS server did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Self {
            issuer,
            key,
            fetches,
            _server: server,
        }
    }

    /// The gateway settings that point the admin routes at this pool.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("COGNITO_ISSUER", self.issuer.clone()),
            ("COGNITO_CLIENT_ID", CLIENT_ID.to_owned()),
        ]
    }

    /// The claims of a valid access token of this pool expiring an hour after `now` (seconds).
    pub fn claims(&self, now: i64) -> Value {
        json!({
            "sub": "0f3c-admin", "iss": self.issuer, "client_id": CLIENT_ID,
            "token_use": "access", "scope": "aws.cognito.signin.user.admin",
            "auth_time": now - 60, "iat": now - 60, "exp": now + 3600,
            "jti": "b1f1", "username": "compliance-officer",
        })
    }

    /// A valid access token for the gateway's time `now` (seconds).
    pub fn token(&self, now: i64) -> String {
        self.key.sign(&self.claims(now))
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
