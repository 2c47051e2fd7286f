//! `cargo xtask image`: the gateway as an OCI image with no base layer, built without a
//! container daemon.
//!
//! 1. A release build of the gateway, statically linked (`+crt-static` on
//!    `x86_64-unknown-linux-gnu`: glibc static, no musl target needed), into its own target
//!    directory `target/image/` so the usual builds' caches stay as they are; getrandom calls
//!    the `getrandom` syscall directly (no /dev/urandom needed). Paths are remapped
//!    (`/build`, `/cargo`) so the binary does not depend on where the checkout is. A second run
//!    with the same sources is a no-op build.
//! 2. One layer (see [`layer`]): the binary, the CA roots, a non-root user (65532), the audit
//!    spool's directory owned by it. Compressed with gzip, level 9.
//! 3. The config: user `65532:65532`, entrypoint the binary, port 8080/tcp exposed,
//!    `HOST=0.0.0.0`, `PORT=8080`, `AUDIT_DIR=/var/lib/gateway/audit`, the audit directory a
//!    volume; `created` is `SOURCE_DATE_EPOCH` (or the epoch), as is every mtime in the layer.
//! 4. Written as an OCI layout at `target/image/oci/` and as one tar, `target/image/gateway.oci.tar`
//!    (an `oci-archive` for skopeo), named `sha-<first 12 hex digits of the manifest digest>`.
//!
//! Same sources and toolchain → same manifest digest. Prints the digest and sizes.

pub mod layer;
pub mod layout;

use std::{fs, path::PathBuf};

use anyhow::{Context, Result, bail};
use flate2::{Compression, write::GzEncoder};
use oci_spec::image::{
    Arch, ConfigBuilder, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os,
    RootFsBuilder, SCHEMA_VERSION,
};
use std::io::Write as _;
use xshell::{Shell, cmd};

use crate::{banner, cargo, project_root, target_dir};

/// The target the image's binary is built for (the only one installed; static via crt-static).
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// The port the gateway listens on in the image.
pub const PORT: u16 = 8080;

/// Where the image task writes: `target/image/`.
pub fn dir() -> PathBuf {
    target_dir().join("image")
}

/// The OCI layout directory, `target/image/oci`.
pub fn layout_dir() -> PathBuf {
    dir().join("oci")
}

pub fn image(sh: &Shell) -> Result<()> {
    let mtime = source_date_epoch()?;
    let binary = build(sh)?;
    banner("packing the image");
    let binary_bytes =
        fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    ensure_static(&binary_bytes)?;
    let ca_path = std::env::var_os("IMAGE_CA_BUNDLE")
        .map_or_else(|| PathBuf::from(layer::CA_BUNDLE), PathBuf::from);
    let ca_bundle = fs::read(&ca_path).with_context(|| {
        format!(
            "reading the CA roots from {} (install ca-certificates, or point IMAGE_CA_BUNDLE at a PEM bundle)",
            ca_path.display()
        )
    })?;
    let tar = layer::tar(layer::Inputs {
        binary: binary_bytes,
        ca_bundle,
        mtime,
    })?;
    let diff_id = layout::sha256(&tar);
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&tar)?;
    let layer_gz = gz.finish()?;

    let created = jiff::Timestamp::from_second(i64::try_from(mtime)?)?.to_string();
    let config = ImageConfigurationBuilder::default()
        .created(created)
        .architecture(Arch::Amd64)
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .user(format!("{}:{}", layer::UID, layer::UID))
                .exposed_ports(vec![format!("{PORT}/tcp")])
                .env(vec![
                    "PATH=/usr/local/bin".to_owned(),
                    "HOST=0.0.0.0".to_owned(),
                    format!("PORT={PORT}"),
                    format!("AUDIT_DIR={}", layer::AUDIT_DIR),
                    format!("SSL_CERT_FILE={}", layer::CA_BUNDLE),
                ])
                .entrypoint(vec![layer::BINARY.to_owned()])
                .volumes(vec![layer::AUDIT_DIR.to_owned()])
                .working_dir("/")
                .stop_signal("SIGTERM")
                .build()?,
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()?,
        )
        .build()?;
    let config_bytes = config.to_string()?.into_bytes();
    let manifest = ImageManifestBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageManifest)
        .config(layout::descriptor(MediaType::ImageConfig, &config_bytes))
        .layers(vec![layout::descriptor(
            MediaType::ImageLayerGzip,
            &layer_gz,
        )])
        .build()?;
    let manifest_bytes = manifest.to_string()?.into_bytes();
    let digest = layout::sha256(&manifest_bytes).to_string();
    let ref_name = format!("sha-{}", &digest["sha256:".len()..][..12]);

    let layout_dir = layout_dir();
    layout::write(
        &layout_dir,
        &manifest_bytes,
        &[&config_bytes, &layer_gz],
        &ref_name,
    )?;
    let archive = dir().join("gateway.oci.tar");
    layout::archive(&layout_dir, &archive, mtime)?;

    let mib = |n: usize| n as f64 / (1024.0 * 1024.0);
    eprintln!(
        "image {digest}\n  name      {ref_name}\n  layer     {:.1} MiB compressed ({:.1} MiB uncompressed)\n  layout    {}\n  archive   {} ({:.1} MiB)",
        mib(layer_gz.len()),
        mib(tar.len()),
        layout_dir.display(),
        archive.display(),
        mib(fs::metadata(&archive)?.len() as usize),
    );
    // stdout carries the digest alone, for scripts.
    println!("{digest}");
    Ok(())
}

/// The release build of the static binary; returns its path.
fn build(sh: &Shell) -> Result<PathBuf> {
    let root = project_root();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")?;
    // Encoded (0x1f-separated) so paths with spaces stay whole; it also overrides any RUSTFLAGS
    // from the environment, so the build's flags, and so the binary, are always these.
    let rustflags = [
        "-Ctarget-feature=+crt-static".to_owned(),
        // getrandom's default finds libc's `getrandom` with dlsym, which a static binary cannot
        // do, and falls back to reading /dev/urandom; this calls it directly, so the gateway
        // needs no device files to seed its RNGs.
        "--cfg=getrandom_backend=\"linux_getrandom\"".to_owned(),
        format!("--remap-path-prefix={}=/build", root.display()),
        format!("--remap-path-prefix={}=/cargo", cargo_home.display()),
    ]
    .join("\x1f");
    let target_dir = dir();
    banner(&format!(
        "cargo build --release (static, {TARGET}) into {}",
        target_dir.display()
    ));
    let cargo = cargo();
    cmd!(
        sh,
        "{cargo} build --release --locked -p gateway --bin gateway --target {TARGET}"
    )
    .env("CARGO_TARGET_DIR", &target_dir)
    .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
    .env_remove("RUSTFLAGS")
    // Smaller image: no debug info (symbols stay, for backtraces).
    .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
    .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
    .run()?;
    Ok(target_dir.join(TARGET).join("release/gateway"))
}

/// `SOURCE_DATE_EPOCH` (the reproducible-builds convention) or 0.
fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a whole number of seconds")),
        _ => Ok(0),
    }
}

/// Fails unless `elf` is a statically linked 64-bit ELF (no `PT_INTERP` program header): a
/// dynamic binary would not start in an image with no base layer.
fn ensure_static(elf: &[u8]) -> Result<()> {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 {
        bail!("the gateway binary is not a 64-bit ELF file");
    }
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().expect("8 bytes"));
    let (phoff, phentsize, phnum) = (u64_at(0x20) as usize, u16_at(0x36), u16_at(0x38));
    for n in 0..phnum {
        let at = phoff + n * phentsize;
        if at + 4 > elf.len() {
            bail!("the gateway binary's program headers are truncated");
        }
        const PT_INTERP: u32 = 3;
        if u32::from_le_bytes(elf[at..at + 4].try_into().expect("4 bytes")) == PT_INTERP {
            bail!("the gateway binary is dynamically linked (it has an ELF interpreter)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_binary_is_refused() {
        // This test binary is dynamically linked: it has an interpreter.
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = ensure_static(&me).unwrap_err();
        assert!(err.to_string().contains("dynamically linked"), "{err}");
        assert!(ensure_static(b"#!/bin/sh\n").is_err());
    }
}
