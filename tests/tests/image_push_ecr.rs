//! `cargo xtask push` to ECR: the credentials come from ECR's `GetAuthorizationToken` (moto) and
//! every request to the registry carries them as basic auth; a registry that refuses the push
//! gets a clear error naming credentials. The registry is a recording stand-in (wiremock) that
//! answers only requests with moto's token, since moto serves ECR's API but not the registry
//! itself. The image is a small OCI layout written here (`--layout`), so this test needs no
//! release build.

use std::path::Path;

use base64::Engine as _;
use gateway_tests::moto::Moto;
use serde_json::json;
use sha2::{Digest as _, Sha256};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path, path_regex},
};

/// moto's GetAuthorizationToken for its default account: `AWS:<account>-auth-token`.
fn moto_basic() -> String {
    let token = base64::engine::general_purpose::STANDARD.encode("AWS:123456789012-auth-token");
    format!("Basic {token}")
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A one-layer OCI layout at `dir`; returns the manifest's digest.
fn write_layout(dir: &Path) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        (d, bytes.len())
    };
    let layer = b"not really a tar.gz, the registry stores bytes".as_slice();
    let (layer_digest, layer_size) = put(layer);
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
    let config = serde_json::to_vec(&config).unwrap();
    let (config_digest, config_size) = put(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = put(&manifest);
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}

/// The registry's API for `gateway`, answering only requests that carry moto's token.
async fn registry(manifest_digest: &str) -> MockServer {
    let server = MockServer::start().await;
    let auth = moto_basic();
    Mock::given(method("HEAD"))
        .and(path_regex(r"^/v2/gateway/blobs/sha256:[0-9a-f]{64}$"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/gateway/blobs/uploads/"))
        .and(header("authorization", auth.as_str()))
        .respond_with(
            ResponseTemplate::new(202)
                .insert_header("location", "/v2/gateway/blobs/uploads/u1?state=x"),
        )
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v2/gateway/blobs/uploads/u1"))
        .and(header("authorization", auth.as_str()))
        .respond_with(ResponseTemplate::new(201))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v2/gateway/manifests/ci"))
        .and(header("authorization", auth.as_str()))
        .and(header(
            "content-type",
            "application/vnd.oci.image.manifest.v1+json",
        ))
        .respond_with(
            ResponseTemplate::new(201).insert_header("docker-content-digest", manifest_digest),
        )
        .mount(&server)
        .await;
    // Anything else (no token, a wrong one): what a registry says to an anonymous client.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ecr_push_authenticates_every_request_with_the_token_from_get_authorization_token() {
    let moto = Moto::start();
    let layout = tempfile::tempdir().unwrap();
    let manifest_digest = write_layout(layout.path());
    let server = registry(&manifest_digest).await;
    let layout_arg = layout.path().to_str().unwrap();

    let out = moto
        .xtask(&[
            "push",
            "--registry",
            &server.uri(),
            "--auth",
            "ecr",
            "--tag",
            "ci",
            "--layout",
            layout_arg,
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "push failed:\n{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .ends_with(&format!("/gateway@{manifest_digest}")),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let requests = server.received_requests().await.unwrap();
    // Two blobs (HEAD, POST, PUT each) and the manifest.
    assert_eq!(requests.len(), 7, "{requests:?}");
    for request in &requests {
        assert_eq!(
            request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok()),
            Some(moto_basic().as_str()),
            "{} {}",
            request.method,
            request.url
        );
    }
    assert!(
        !stderr.contains("auth-token"),
        "the token is never printed:\n{stderr}"
    );

    // Without the token the registry refuses, and the error says why.
    let out = moto
        .xtask(&[
            "push",
            "--registry",
            &server.uri(),
            "--auth",
            "none",
            "--tag",
            "ci",
            "--layout",
            layout_arg,
        ])
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("credentials"),
        "{stderr}"
    );
}
