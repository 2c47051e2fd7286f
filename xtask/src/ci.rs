//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure with a banner
//! naming the step. Installs what it needs (rustfmt, clippy, the venv with schemathesis and
//! moto, checkov's venv, Debian's docker-registry and skopeo for the image test) itself;
//! terraform and its provider mirror must be on the machine.

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::{banner, cargo, conformance, openapi, pinned, terraform, venv};

pub fn ci(sh: &Shell) -> Result<()> {
    let cargo = cargo();
    let steps: [(&str, &dyn Fn() -> Result<()>); 9] = [
        ("cargo fmt --all --check", &|| {
            ensure_component(sh, "fmt", "rustfmt")?;
            Ok(cmd!(sh, "{cargo} fmt --all --check").run()?)
        }),
        (
            "cargo clippy --workspace --all-targets -- -D warnings",
            &|| {
                ensure_component(sh, "clippy", "clippy")?;
                Ok(cmd!(
                    sh,
                    "{cargo} clippy --workspace --all-targets -- -D warnings"
                )
                .run()?)
            },
        ),
        ("cargo xtask openapi --check", &|| {
            openapi::openapi(sh, true)
        }),
        (
            "terraform fmt, validate and checkov (cargo xtask terraform-check)",
            &|| terraform::check(sh),
        ),
        // Before the tests: the AWS tests start moto from this venv.
        (
            "the pinned Python tools in target/venv (schemathesis, moto)",
            &|| venv::ensure(sh).map(drop),
        ),
        // The image and deploy tests push to a local docker-registry (image reads it back with
        // skopeo).
        ("docker-registry and skopeo (Debian packages)", &|| {
            ensure_debian_packages(
                sh,
                &[("docker-registry", "docker-registry"), ("skopeo", "skopeo")],
            )
        }),
        ("tests", &|| tests(sh)),
        (
            "the tool suites with the clock pinned (cargo xtask pinned)",
            &|| pinned::pinned(),
        ),
        ("OpenAPI conformance (schemathesis)", &|| {
            conformance::conformance(sh)
        }),
    ];
    let total = steps.len();
    for (n, (name, step)) in steps.iter().enumerate() {
        banner(&format!("[{}/{total}] {name}", n + 1));
        step().with_context(|| format!("CI step {}/{total} failed: {name}", n + 1))?;
    }
    banner("CI passed");
    Ok(())
}

/// The test suite: nextest when it is installed, else `cargo test`.
fn tests(sh: &Shell) -> Result<()> {
    let cargo = cargo();
    if cmd!(sh, "{cargo} nextest --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok()
    {
        cmd!(sh, "{cargo} nextest run --workspace").run()?;
    } else {
        eprintln!("cargo-nextest is not installed; using cargo test");
        cmd!(sh, "{cargo} test --workspace").run()?;
    }
    Ok(())
}

/// Adds a rustup component when its cargo subcommand is missing.
fn ensure_component(sh: &Shell, subcommand: &str, component: &str) -> Result<()> {
    let cargo = cargo();
    let present = cmd!(sh, "{cargo} {subcommand} --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run();
    if present.is_err() {
        eprintln!("`cargo {subcommand}` is missing; installing the {component} component");
        cmd!(sh, "rustup component add {component}").run()?;
    }
    Ok(())
}

/// `apt-get install -y` of the packages whose command is missing (`(command, package)` pairs);
/// nothing when all are there. CI runs as root; elsewhere this says what to install.
fn ensure_debian_packages(sh: &Shell, wanted: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(command, _)| {
            let probe = format!("command -v {command}");
            cmd!(sh, "sh -c {probe}")
                .quiet()
                .ignore_stdout()
                .run()
                .is_err()
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing {}", missing.join(" "));
    let packages = &missing;
    cmd!(sh, "apt-get update -qq")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .and_then(|()| {
            cmd!(sh, "apt-get install -y -qq {packages...}")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()
        })
        .with_context(|| format!("apt-get install {} (run it as root)", missing.join(" ")))
}
