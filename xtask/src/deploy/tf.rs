//! Terraform for a deploy: a working copy of `terraform/` (the repository is never written),
//! the environment's own files checked first, and each command run with the project's CLI
//! config (providers from the mirror), its output on stderr (stdout is the deployed reference).

use std::{
    os::fd::AsFd as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};

use super::{Args, Env, preflight};
use crate::{project_root, terraform::Terraform};

/// The working copy of one environment, ready for `init`.
pub struct Workspace {
    tf: Terraform,
    /// `<work>/terraform/environments/<env>`.
    dir: PathBuf,
    plan: PathBuf,
    var_files: Vec<PathBuf>,
}

impl Workspace {
    /// Checks terraform and the environment's files, then writes the working copy.
    pub fn prepare(args: &Args, work: &Path) -> Result<Self> {
        let tf = Terraform::locate().context(
            "cargo xtask deploy runs terraform: install terraform 1.11 \
             (https://developer.hashicorp.com/terraform/install) or set TERRAFORM to its path",
        )?;
        let source = project_root()
            .join("terraform/environments")
            .join(args.env.name());
        let local_state = preflight::environment_files(&source, args.env, &args.var_file)?;
        let copy = work.join("terraform");
        if copy.exists() {
            std::fs::remove_dir_all(&copy)
                .with_context(|| format!("clearing {}", copy.display()))?;
        }
        crate::terraform::copy_tree(&project_root().join("terraform"), &copy)?;
        let dir = copy.join("environments").join(args.env.name());
        if local_state {
            // The state outlives the copy: it is kept next to it, in the working directory.
            let state = std::path::absolute(work.join("terraform.tfstate"))?;
            std::fs::write(
                dir.join("deploy_backend.tf"),
                format!(
                    "# Written by cargo xtask deploy: {} keeps its state locally.\nterraform {{\n  backend \"local\" {{\n    path = {:?}\n  }}\n}}\n",
                    Env::name(args.env),
                    state.display().to_string()
                ),
            )?;
        }
        let var_files = args
            .var_file
            .iter()
            .map(std::path::absolute)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            tf,
            plan: dir.join("deploy.tfplan"),
            dir,
            var_files,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.tf.bin);
        cmd.arg(format!("-chdir={}", self.dir.display()))
            .args(args)
            .envs(self.tf.env())
            .stdin(Stdio::null());
        cmd
    }

    /// Runs terraform with its stdout on our stderr; fails naming the command.
    fn run(&self, args: &[&str]) -> Result<()> {
        let stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
        let status = self
            .command(args)
            .stdout(Stdio::from(stderr))
            .status()
            .with_context(|| format!("running {}", self.tf.bin.display()))?;
        if !status.success() {
            bail!(
                "terraform {} failed ({status}): see its output above",
                args[0]
            );
        }
        Ok(())
    }

    fn var_args(&self, image: &str) -> Vec<String> {
        let mut args: Vec<String> = self
            .var_files
            .iter()
            .map(|f| format!("-var-file={}", f.display()))
            .collect();
        args.push(format!("-var=image={image}"));
        args
    }

    pub fn init(&self) -> Result<()> {
        self.run(&["init", "-input=false", "-no-color"])
            .context("terraform init (the backend: is backend.tf right and its bucket reachable?)")
    }

    /// Creates (or confirms) the image repository alone.
    pub fn apply_repository(&self, image: &str) -> Result<()> {
        let mut args = vec!["apply", "-auto-approve", "-input=false", "-no-color"];
        args.push("-target=module.ecr");
        let vars = self.var_args(image);
        args.extend(vars.iter().map(String::as_str));
        self.run(&args)
    }

    pub fn plan(&self, image: &str) -> Result<()> {
        let out = format!("-out={}", self.plan.display());
        let mut args = vec!["plan", "-input=false", "-no-color", &out];
        let vars = self.var_args(image);
        args.extend(vars.iter().map(String::as_str));
        self.run(&args)
    }

    /// Applies the saved plan, then removes it (it holds the settings in clear).
    pub fn apply_plan(&self) -> Result<()> {
        let plan = self.plan.display().to_string();
        let applied = self.run(&["apply", "-input=false", "-no-color", &plan]);
        let _ = std::fs::remove_file(&self.plan);
        applied
    }

    /// `terraform output <name>` as a string; `None` when the state has no such value yet.
    pub fn output_string(&self, name: &str) -> Result<Option<String>> {
        let out = self
            .command(&["output", "-json", "-no-color"])
            .stderr(Stdio::inherit())
            .output()
            .context("running terraform output")?;
        if !out.status.success() {
            bail!("terraform output failed ({})", out.status);
        }
        let outputs: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("terraform output -json is not JSON")?;
        Ok(outputs[name]["value"].as_str().map(str::to_owned))
    }
}
