//! `cargo xtask terraform-check`: the checks of `terraform/`, all offline — `terraform fmt
//! -check -recursive`, `terraform init -backend=false` + `terraform validate` of every module and
//! environment, and checkov (pinned, in its own venv, [`venv::ensure_checkov`]) with zero failed
//! checks. `cargo xtask ci` runs it.
//!
//! Providers come only from the local filesystem mirror named by `TF_PLUGIN_MIRROR` (default
//! [`DEFAULT_MIRROR`]): the project's CLI configuration `terraform/terraformrc.in` is written to
//! `target/terraform/terraformrc` with that path and `TF_CLI_CONFIG_FILE` points at it, so `init`
//! never reaches the network. The repository is never written: `init` and `validate` run in a
//! copy of `terraform/` under `target/terraform/check/`, removed afterwards. A missing terraform
//! binary or mirror fails the task, saying what is missing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::{banner, project_root, target_dir, venv};

/// Where the `hashicorp/aws` provider mirror is when `TF_PLUGIN_MIRROR` is not set.
pub const DEFAULT_MIRROR: &str = "/opt/tf-plugins";

pub fn check(sh: &Shell) -> Result<()> {
    let tf = Terraform::locate()?;
    let source = project_root().join("terraform");

    banner("terraform fmt -check -recursive terraform");
    let bin = &tf.bin;
    cmd!(sh, "{bin} fmt -check -recursive -diff {source}")
        .envs(tf.env())
        .run()
        .context(
            "terraform fmt found unformatted files: run `terraform fmt -recursive terraform`",
        )?;

    let work = target_dir().join("terraform/check");
    let _ = std::fs::remove_dir_all(&work);
    copy_tree(&source, &work.join("terraform"))?;
    let result = validate_all(sh, &tf, &work.join("terraform"));
    let _ = std::fs::remove_dir_all(&work);
    result?;

    let checkov = venv::ensure_checkov(sh)?.join("bin/checkov");
    banner("checkov over terraform/ (offline, inline skips only)");
    cmd!(
        sh,
        "{checkov} -d {source} --framework terraform --quiet --compact --skip-download"
    )
    .env("BC_SKIP_MAPPING", "TRUE")
    .run()
    .context("checkov reported failed checks (fix them, or skip one inline with its reason)")?;
    Ok(())
}

/// `init -backend=false` and `validate` in every module and environment of the copy at `root`.
fn validate_all(sh: &Shell, tf: &Terraform, root: &Path) -> Result<()> {
    let mut dirs = Vec::new();
    for group in ["modules", "environments"] {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(root.join(group))
            .with_context(|| format!("reading terraform/{group}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        entries.sort();
        dirs.extend(entries);
    }
    let bin = &tf.bin;
    for dir in dirs {
        let name = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
        banner(&format!("terraform init + validate: {name}"));
        let _dir = sh.push_dir(&dir);
        cmd!(sh, "{bin} init -backend=false -input=false -no-color")
            .envs(tf.env())
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| {
                format!(
                    "terraform init in {name} (from the mirror {})",
                    tf.mirror.display()
                )
            })?;
        cmd!(sh, "{bin} validate -no-color")
            .envs(tf.env())
            .run()
            .with_context(|| format!("terraform validate in {name}"))?;
    }
    Ok(())
}

/// The terraform binary and the provider mirror this machine has.
pub struct Terraform {
    pub bin: PathBuf,
    pub mirror: PathBuf,
    /// The effective CLI configuration (in `target/terraform/`).
    pub cli_config: PathBuf,
}

impl Terraform {
    /// Finds terraform (`TERRAFORM`, else on `PATH`) and the mirror, and writes the CLI config.
    pub fn locate() -> Result<Self> {
        let bin = match std::env::var_os("TERRAFORM") {
            Some(path) => PathBuf::from(path),
            None => find_on_path("terraform").context(
                "terraform is not installed: no `terraform` on PATH (set TERRAFORM to its path); \
                 the checks need terraform 1.9 or later",
            )?,
        };
        let mirror = std::env::var_os("TF_PLUGIN_MIRROR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MIRROR));
        let aws = mirror.join("registry.terraform.io/hashicorp/aws");
        if !aws.is_dir() {
            bail!(
                "no hashicorp/aws provider in the Terraform plugin mirror: {} is missing (set \
                 TF_PLUGIN_MIRROR to a filesystem mirror holding registry.terraform.io/hashicorp/aws/5.100.x)",
                aws.display()
            );
        }
        let template = std::fs::read_to_string(project_root().join("terraform/terraformrc.in"))
            .context("reading terraform/terraformrc.in")?;
        let cli_config = target_dir().join("terraform/terraformrc");
        std::fs::create_dir_all(cli_config.parent().expect("a parent"))?;
        std::fs::write(
            &cli_config,
            template.replace("@TF_PLUGIN_MIRROR@", &mirror.display().to_string()),
        )
        .with_context(|| format!("writing {}", cli_config.display()))?;
        Ok(Self {
            bin,
            mirror,
            cli_config,
        })
    }

    /// The environment every terraform command runs with: the project's CLI config, no
    /// version-check call home, no prompts.
    pub fn env(&self) -> [(&'static str, String); 3] {
        [
            ("TF_CLI_CONFIG_FILE", self.cli_config.display().to_string()),
            ("CHECKPOINT_DISABLE", "1".to_owned()),
            ("TF_IN_AUTOMATION", "1".to_owned()),
        ]
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
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform"
            || name_str.ends_with(".tfstate")
            || name_str.ends_with(".tfstate.backup")
        {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            copy_tree(&path, &to.join(&name))?;
        } else {
            std::fs::copy(&path, to.join(&name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
