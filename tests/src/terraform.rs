//! Terraform for the tests: `terraform/environments/local` applied to a [`Moto`], with the same
//! offline provider installation as `cargo xtask terraform-check` (the project's CLI config
//! `terraform/terraformrc.in`, providers only from the mirror at `TF_PLUGIN_MIRROR`, default
//! `/opt/tf-plugins`). The repository is never written: `terraform/` is copied into a temporary
//! directory that holds the working data, the state and the variables file (the settings are
//! secrets) and is removed on drop. Without terraform or the mirror a test fails saying what is
//! missing; it never skips.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use serde_json::Value;

use crate::moto::Moto;

/// Where the provider mirror is when `TF_PLUGIN_MIRROR` is not set.
pub const DEFAULT_MIRROR: &str = "/opt/tf-plugins";

/// The workspace's `terraform/` directory.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace")
        .join("terraform")
}

/// `environments/local`, applied: its outputs, and the copy holding its state.
pub struct Applied {
    /// `terraform output -json`: `{name: {value, type, sensitive}}`.
    pub outputs: Value,
    /// How long `init` + `apply` took.
    pub took: std::time::Duration,
    _work: tempfile::TempDir,
}

impl Applied {
    /// The string value of output `name`.
    pub fn output(&self, name: &str) -> String {
        self.outputs[name]["value"]
            .as_str()
            .unwrap_or_else(|| panic!("terraform output {name} is missing: {}", self.outputs))
            .to_owned()
    }
}

/// Applies `environments/local` to `moto` with `vars` (written to a `.tfvars.json` file in the
/// temporary copy); panics with terraform's output when a step fails.
pub fn apply_local(moto: &Moto, vars: &Value) -> Applied {
    let terraform = std::env::var_os("TERRAFORM")
        .map(PathBuf::from)
        .or_else(|| find_on_path("terraform"))
        .expect(
            "terraform is not installed: no `terraform` on PATH (set TERRAFORM to its path); \
             the Terraform tests need terraform 1.9 or later",
        );
    let mirror = std::env::var_os("TF_PLUGIN_MIRROR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MIRROR));
    let aws = mirror.join("registry.terraform.io/hashicorp/aws");
    assert!(
        aws.is_dir(),
        "no hashicorp/aws provider in the Terraform plugin mirror: {} is missing (set \
         TF_PLUGIN_MIRROR to a filesystem mirror holding registry.terraform.io/hashicorp/aws/5.100.x)",
        aws.display()
    );

    let work = tempfile::tempdir().expect("temp dir");
    copy_tree(&source_dir(), &work.path().join("terraform"));
    let template = std::fs::read_to_string(source_dir().join("terraformrc.in"))
        .expect("read terraform/terraformrc.in");
    let cli_config = work.path().join("terraformrc");
    std::fs::write(
        &cli_config,
        template.replace("@TF_PLUGIN_MIRROR@", &mirror.display().to_string()),
    )
    .expect("write the CLI config");
    let var_file = work.path().join("local.tfvars.json");
    std::fs::write(&var_file, vars.to_string()).expect("write the variables");
    let dir = work.path().join("terraform/environments/local");

    let run = |args: &[&str]| {
        let mut cmd = Command::new(&terraform);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", work.path())
            .env("TF_CLI_CONFIG_FILE", &cli_config)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .arg(format!("-chdir={}", dir.display()))
            .args(args);
        for (k, v) in moto.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run terraform");
        assert!(
            out.status.success(),
            "terraform {}: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let started = Instant::now();
    run(&["init", "-input=false", "-no-color"]);
    let var_arg = format!("-var-file={}", var_file.display());
    run(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        &var_arg,
    ]);
    let took = started.elapsed();
    let outputs = serde_json::from_slice(&run(&["output", "-json", "-no-color"]))
        .expect("terraform output -json is JSON");
    Applied {
        outputs,
        took,
        _work: work,
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// Copies `from` to `to`, leaving out Terraform's working data (`.terraform/`, state files).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read terraform/") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform" || name_str.contains(".tfstate") {
            continue;
        }
        let path = entry.path();
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy a terraform file");
        }
    }
}
