//! `cargo xtask image` and `cargo xtask push`, end to end: the image is built (a static release
//! build into `target/image/`, once; the second `image` is a no-op build with the same digest),
//! pushed to Debian's `docker-registry` started on a loopback port, read back with `skopeo
//! inspect` (manifest digest, user, entrypoint, exposed port, environment), and the binary taken
//! out of the image's own layer runs the local profile and answers `/healthz`.
//!
//! Needs `docker-registry` and `skopeo` (`apt-get install -y docker-registry skopeo`;
//! `cargo xtask ci` installs them). A missing tool fails the test, saying so.

use std::{
    io::Read as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use gateway_tests::registry::{Registry, tool};
use serde_json::Value;
use tokio::process::Command;

/// The first `image` compiles the whole gateway in release mode (~6 minutes on two cores).
const BUILD: Duration = Duration::from_secs(20 * 60);
const QUICK: Duration = Duration::from_secs(120);

/// Runs `program args`, failing the test on a timeout or a non-zero exit; returns stdout.
async fn run(program: &Path, args: &[&str], limit: Duration) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).kill_on_drop(true).stdin(Stdio::null());
    let output = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} {args:?} did not finish in {limit:?}", program.display()))
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {args:?} failed ({}):\n{}\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

/// The target directory this test binary was built into (`<target>/debug/deps/<test>`), the
/// one the xtask writes to (both follow `CARGO_TARGET_DIR`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("the target directory")
        .to_owned()
}

/// The files of a tar, by path.
fn untar(bytes: &[u8]) -> Vec<(String, tar::Header, Vec<u8>)> {
    let mut archive = tar::Archive::new(bytes);
    let mut files = Vec::new();
    for entry in archive.entries().expect("a tar") {
        let mut entry = entry.expect("a tar entry");
        let path = entry.path().expect("a path").to_string_lossy().into_owned();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read a tar entry");
        files.push((path, header, data));
    }
    files
}

fn file<'a>(
    files: &'a [(String, tar::Header, Vec<u8>)],
    path: &str,
) -> &'a (String, tar::Header, Vec<u8>) {
    files
        .iter()
        .find(|(p, _, _)| p == path)
        .unwrap_or_else(|| panic!("{path} is not in the archive"))
}

/// The image's layer, uncompressed, read from the `oci-archive` tarball `xtask image` wrote.
fn layer_from_archive(archive: &Path, digest: &str) -> Vec<(String, tar::Header, Vec<u8>)> {
    let outer = untar(&std::fs::read(archive).expect("read the image tarball"));
    let blob = |digest: &str| {
        let path = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        file(&outer, &path).2.clone()
    };
    let index: Value = serde_json::from_slice(&file(&outer, "index.json").2).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"], digest,
        "the tarball holds the image"
    );
    let manifest: Value = serde_json::from_slice(&blob(digest)).unwrap();
    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one layer, no base image");
    let gz = blob(layers[0]["digest"].as_str().unwrap());
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_end(&mut tar)
        .expect("gunzip the layer");
    untar(&tar)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_is_reproducible_pushes_to_a_registry_and_its_binary_serves() {
    let skopeo = tool("skopeo");
    let registry = Registry::start().await;
    let xtask = gateway_tests::xtask_bin();

    // Built twice: the second run rebuilds nothing and gives the same digest.
    let digest = run(&xtask, &["image"], BUILD).await.trim().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    let started = Instant::now();
    let again = run(&xtask, &["image"], QUICK).await.trim().to_owned();
    assert_eq!(again, digest, "same sources, same digest");
    eprintln!("second `xtask image` took {:?}", started.elapsed());

    // Pushed, then read back by skopeo from the registry.
    let pushed = run(
        &xtask,
        &[
            "push",
            "--registry",
            &registry.host,
            "--repository",
            "parlae/gateway",
            "--tag",
            "ci",
        ],
        QUICK,
    )
    .await;
    assert_eq!(
        pushed.trim(),
        format!("{}/parlae/gateway@{digest}", registry.host)
    );
    let reference = format!("docker://{}/parlae/gateway:ci", registry.host);
    let inspect: Value = serde_json::from_str(
        &run(
            &skopeo,
            &["inspect", "--tls-verify=false", &reference],
            QUICK,
        )
        .await,
    )
    .expect("skopeo inspect prints JSON");
    assert_eq!(inspect["Digest"], digest.as_str(), "{inspect}");
    assert_eq!(inspect["Architecture"], "amd64");
    assert_eq!(inspect["Os"], "linux");
    assert_eq!(
        inspect["Layers"].as_array().map(Vec::len),
        Some(1),
        "{inspect}"
    );
    let config: Value = serde_json::from_str(
        &run(
            &skopeo,
            &["inspect", "--config", "--tls-verify=false", &reference],
            QUICK,
        )
        .await,
    )
    .expect("skopeo inspect --config prints JSON");
    let config = &config["config"];
    assert_eq!(config["User"], "65532:65532", "{config}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/gateway"])
    );
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    let env: Vec<&str> = config["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for wanted in [
        "HOST=0.0.0.0",
        "PORT=8080",
        "AUDIT_DIR=/var/lib/gateway/audit",
    ] {
        assert!(env.contains(&wanted), "{wanted} in {env:?}");
    }

    // A second push finds every blob already there and stores the same manifest.
    let repushed = run(
        &xtask,
        &[
            "push",
            "--registry",
            &registry.host,
            "--repository",
            "parlae/gateway",
            "--tag",
            "ci",
        ],
        QUICK,
    )
    .await;
    assert_eq!(repushed, pushed);

    // What the image holds: the non-root user, its audit directory, the CA roots.
    let archive = target_dir().join("image/gateway.oci.tar");
    let layer = layer_from_archive(&archive, &digest);
    let passwd = String::from_utf8(file(&layer, "etc/passwd").2.clone()).unwrap();
    assert!(passwd.contains(":65532:65532:"), "{passwd}");
    let audit = &file(&layer, "var/lib/gateway/audit/").1;
    assert_eq!((audit.uid().unwrap(), audit.gid().unwrap()), (65532, 65532));
    let roots = &file(&layer, "etc/ssl/certs/ca-certificates.crt").2;
    assert!(
        roots.starts_with(b"-----BEGIN CERTIFICATE-----"),
        "a PEM CA bundle"
    );

    // The binary from the layer itself runs the local profile and answers /healthz.
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("gateway");
    std::fs::write(&binary, &file(&layer, "usr/local/bin/gateway").2).unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let base = serve(&binary, &dir.path().join("audit")).await;
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Starts `binary` with the local profile on a free port; returns its base URL once it says it
/// is ready. The process is killed when the test ends.
async fn serve(binary: &Path, audit_dir: &Path) -> String {
    use tokio::io::{AsyncBufReadExt, BufReader};
    std::fs::create_dir_all(audit_dir).unwrap();
    let mut child = Command::new(binary)
        .env_clear()
        .env("PROFILE", "local")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("AUDIT_DIR", audit_dir)
        .env("AUDIT_PREALLOC_MIB", "1")
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the image's gateway");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(QUICK, async {
        while let Some(line) = lines.next_line().await.expect("read its output") {
            if line.contains("gateway ready")
                && let Ok(v) = serde_json::from_str::<Value>(&line)
                && let Some(addr) = v["address"].as_str()
            {
                return addr.to_owned();
            }
        }
        panic!("the image's gateway exited before it was ready");
    })
    .await
    .expect("the image's gateway is ready within two minutes");
    // Keep the process (and its output pipe) alive until the test is over.
    tokio::spawn(async move {
        while let Ok(Some(_)) = lines.next_line().await {}
        drop(child);
    });
    ready
}
