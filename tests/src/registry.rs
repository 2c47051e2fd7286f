//! Debian's `docker-registry` on a free loopback port (storage in a temporary directory, killed
//! on drop), and a small one-layer OCI layout to push to it, for the tests of `cargo xtask push`
//! and `deploy` that need a real registry but not a release build of the image. Without
//! `docker-registry` a test fails saying how to install it (`cargo xtask ci` installs it).

use std::{
    net::{Ipv4Addr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::json;
use sha2::{Digest as _, Sha256};

/// `name` on `PATH`, or a failure saying how to install it.
pub fn tool(name: &str) -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "`{name}` is not installed: run `apt-get install -y docker-registry skopeo` \
             (cargo xtask ci installs them)"
        )
    })
}

/// A running `docker-registry`.
pub struct Registry {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    /// `127.0.0.1:<port>`.
    pub host: String,
}

impl Registry {
    pub async fn start() -> Self {
        let bin = tool("docker-registry");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("write the registry's config");
        let mut child = tokio::process::Command::new(bin)
            .arg("serve")
            .arg(&config)
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let host = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = child.try_wait().expect("the registry's status") {
                panic!("docker-registry exited before it answered: {status}");
            }
            if let Ok(r) = reqwest::get(format!("http://{host}/v2/")).await
                && r.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not answer /v2/"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self {
            _child: child,
            _dir: dir,
            host,
        }
    }

    /// The repositories the registry holds (`/v2/_catalog`).
    pub async fn catalog(&self) -> Vec<String> {
        let body: serde_json::Value = reqwest::get(format!("http://{}/v2/_catalog", self.host))
            .await
            .expect("GET /v2/_catalog")
            .json()
            .await
            .expect("the catalog is JSON");
        body["repositories"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The digest the registry reports for `repository`'s manifest `reference`, if it has it.
    pub async fn manifest_digest(&self, repository: &str, reference: &str) -> Option<String> {
        let response = reqwest::Client::new()
            .get(format!(
                "http://{}/v2/{repository}/manifests/{reference}",
                self.host
            ))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .expect("GET a manifest");
        (response.status() == 200).then(|| {
            response.headers()["docker-content-digest"]
                .to_str()
                .expect("an ASCII digest")
                .to_owned()
        })
    }
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A one-layer OCI layout at `dir`, named `name`; returns the manifest's digest. `salt` goes
/// into the layer, so two calls with different salts give two images.
pub fn write_layout(dir: &Path, name: &str, salt: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        (d, bytes.len())
    };
    let layer = format!("not really a tar.gz, the registry stores bytes ({salt})");
    let (layer_digest, layer_size) = put(layer.as_bytes());
    let config = json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}});
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
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
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest, "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": name}}],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    manifest_digest
}
