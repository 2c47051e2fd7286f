//! `target/venv`: the Python tools the checks use, pinned, installed by `cargo xtask venv` (and
//! by `cargo xtask ci` before the tests): schemathesis for the conformance run, and moto's server,
//! the AWS emulator the `aws` profile's tests start (`tests/src/moto.rs`). `target/checkov-venv`:
//! checkov, the Terraform scanner of `cargo xtask terraform-check`, in a venv of its own because
//! it pins boto3/botocore older than moto's. Nothing is installed outside `target/`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{banner, target_dir};

/// The schemathesis release the conformance run is pinned to (its CLI flags are checked
/// against it).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
/// The moto release the AWS tests run against (`[server]`: the standalone `moto_server`).
const MOTO: &str = "moto[server]==5.2.5";
/// The checkov release `cargo xtask terraform-check` scans `terraform/` with (its check ids are
/// what the inline skips name).
const CHECKOV: &str = "checkov==3.3.30";

/// Creates `target/venv` if missing and installs the pinned tools; returns the venv's path.
pub fn ensure(sh: &Shell) -> Result<PathBuf> {
    let venv = target_dir().join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        banner(&format!("creating a Python venv at {}", venv.display()));
        cmd!(sh, "python3 -m venv {venv}")
            .run()
            .context("python3 -m venv (is python3-venv installed?)")?;
    }
    banner(&format!("pip install {SCHEMATHESIS} {MOTO}"));
    cmd!(
        sh,
        "{python} -m pip install --quiet --disable-pip-version-check {SCHEMATHESIS} {MOTO}"
    )
    .run()?;
    for tool in ["schemathesis", "moto_server"] {
        let path = venv.join("bin").join(tool);
        if !path.exists() {
            bail!("{} is missing after pip install", path.display());
        }
    }
    Ok(venv)
}

/// Creates `target/checkov-venv` if missing and installs the pinned checkov; returns the venv's
/// path. Apart from `target/venv`: checkov pins boto3/botocore releases older than moto's.
pub fn ensure_checkov(sh: &Shell) -> Result<PathBuf> {
    let venv = target_dir().join("checkov-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        banner(&format!("creating a Python venv at {}", venv.display()));
        cmd!(sh, "python3 -m venv {venv}")
            .run()
            .context("python3 -m venv (is python3-venv installed?)")?;
    }
    let installed = cmd!(sh, "{python} -m pip show --quiet checkov")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .read()
        .is_ok()
        && cmd!(sh, "{venv}/bin/checkov --version")
            .quiet()
            .read()
            .is_ok_and(|v| CHECKOV.ends_with(v.trim()));
    if !installed {
        banner(&format!("pip install {CHECKOV}"));
        cmd!(
            sh,
            "{python} -m pip install --quiet --disable-pip-version-check {CHECKOV}"
        )
        .run()?;
    }
    if !venv.join("bin/checkov").exists() {
        bail!(
            "{} is missing after pip install",
            venv.join("bin/checkov").display()
        );
    }
    Ok(venv)
}
