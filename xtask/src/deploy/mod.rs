//! `cargo xtask deploy --env dev|prod|local [--plan-only]`: the gateway's image onto its ECS
//! service, in order, each step numbered and timed on stderr:
//!
//! 1. checks, before anything long ([`preflight`]): terraform and its provider mirror, the
//!    environment's backend (`backend.tf`; dev and prod refuse to run on local state, which a
//!    CI runner would lose) and variables (`terraform.tfvars`), and AWS credentials (STS
//!    `GetCallerIdentity`);
//! 2. the image: `cargo xtask image` (or `--layout`, an OCI layout built before); its manifest
//!    digest is what gets deployed;
//! 3. `terraform init` in a working copy of `terraform/` under `target/deploy/<env>/` (the
//!    repository is never written; the project's CLI config, providers from the mirror);
//! 4. the image repository: a targeted `apply -target=module.ecr` (creates it on the first deploy,
//!    a no-op after), then `terraform output ecr_repository_url`. A targeted apply rather than a
//!    second configuration because the repository belongs to the environment's state, and because
//!    the push must come before the service names the image;
//! 5. the push (`cargo xtask push`'s code: ECR authenticates with `GetAuthorizationToken`), or,
//!    with `--registry`, to that registry under the repository's name (the emulator serves
//!    ECR's API but not a registry);
//! 6. `terraform plan -out` with `-var image=<repository>@sha256:<digest>`;
//! 7. `terraform apply` of that saved plan (exactly what was planned; no prompt);
//! 8. the wait for the ECS service to be stable ([`ecs`]).
//!
//! `--plan-only` stops after the plan and changes nothing: no targeted apply, no push (the digest
//! is the local image's; the repository URL comes from the state when there is one).
//! `--env local` deploys `terraform/environments/local` to the AWS emulator (`--var-file` gives its
//! endpoint and settings); its state stays in the working directory.

mod ecs;
mod preflight;
mod tf;

use std::{path::PathBuf, time::Instant};

use anyhow::{Context, Result};
use xshell::Shell;

use crate::{
    image::{self, layout::Image},
    push::{self, Auth},
    target_dir,
};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Env {
    Dev,
    Prod,
    /// `terraform/environments/local`, against the AWS emulator.
    Local,
}

impl Env {
    pub fn name(self) -> &'static str {
        match self {
            Env::Dev => "dev",
            Env::Prod => "prod",
            Env::Local => "local",
        }
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// The environment: terraform/environments/<env>.
    #[arg(long, value_enum)]
    env: Env,
    /// Stop after `terraform plan`: nothing pushed, nothing applied.
    #[arg(long)]
    plan_only: bool,
    /// Deploy this OCI layout instead of building the image (`cargo xtask image` wrote it).
    #[arg(long)]
    layout: Option<PathBuf>,
    /// Push to this registry (host[:port]) under the ECR repository's name, instead of ECR.
    #[arg(long)]
    registry: Option<String>,
    /// More terraform variables (a .tfvars or .tfvars.json file), after terraform.tfvars.
    #[arg(long)]
    var_file: Vec<PathBuf>,
    /// Terraform's working directory (default target/deploy/<env>); local state lives there.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// How long to wait for the ECS service to become stable, in seconds.
    #[arg(long, default_value_t = 900)]
    wait_seconds: u64,
}

/// Step banners: `==> [n/N] what (elapsed)`.
struct Progress {
    step: usize,
    total: usize,
    started: Instant,
}

impl Progress {
    fn next(&mut self, what: &str) {
        self.step += 1;
        crate::banner(&format!(
            "[{}/{}] {what} ({}s elapsed)",
            self.step,
            self.total,
            self.started.elapsed().as_secs()
        ));
    }
}

pub fn deploy(sh: &Shell, args: &Args) -> Result<()> {
    let total = if args.plan_only { 4 } else { 8 };
    let mut progress = Progress {
        step: 0,
        total,
        started: Instant::now(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;

    progress.next("checks: terraform, backend, variables, AWS credentials");
    let tf = tf::Workspace::prepare(args, &work_dir(args))?;
    let identity = runtime.block_on(preflight::caller_identity())?;
    eprintln!("AWS account {identity}");

    progress.next("the image");
    let image = build_or_read(sh, args)?;
    eprintln!("image {}", image.digest);

    progress.next("terraform init");
    tf.init()?;

    let reference = if args.plan_only {
        let repository = tf.output_string("ecr_repository_url")?;
        image_reference(args, repository.as_deref(), &image)
    } else {
        progress.next("the image repository (terraform apply -target=module.ecr)");
        tf.apply_repository(&format!("{}@{}", PENDING, image.digest))?;
        let repository = tf
            .output_string("ecr_repository_url")?
            .context("terraform output ecr_repository_url is empty after creating it")?;
        progress.next(&format!("push to {repository}"));
        runtime.block_on(push_to(args, &repository, &image))?
    };
    eprintln!("deploying {reference}");

    progress.next("terraform plan");
    tf.plan(&reference)?;
    if args.plan_only {
        eprintln!("\n--plan-only: nothing pushed, nothing applied");
        return Ok(());
    }
    progress.next("terraform apply");
    tf.apply_plan()?;

    progress.next("waiting for the ECS service to be stable");
    runtime.block_on(wait_for_service(&tf, args))?;
    eprintln!(
        "\ndeployed {reference} in {}s",
        progress.started.elapsed().as_secs()
    );
    println!("{reference}");
    Ok(())
}

/// Waits for the service the apply updated (named by the state's outputs, in the repository's
/// region) to be stable.
async fn wait_for_service(tf: &tf::Workspace, args: &Args) -> Result<()> {
    let cluster = tf
        .output_string("ecs_cluster")?
        .context("no ecs_cluster output")?;
    let service = tf
        .output_string("ecs_service")?
        .context("no ecs_service output")?;
    let region = tf
        .output_string("ecr_repository_url")?
        .and_then(|url| push::registry_url(&url).ok())
        .and_then(|url| push::ecr_region(&url));
    let limit = std::time::Duration::from_secs(args.wait_seconds);
    ecs::wait_stable(region, &cluster, &service, limit).await
}

/// The image name in a plan made before the repository exists (a first `--plan-only`).
const PENDING: &str = "ecr-repository-created-by-the-first-deploy";

fn work_dir(args: &Args) -> PathBuf {
    args.work_dir
        .clone()
        .unwrap_or_else(|| target_dir().join("deploy").join(args.env.name()))
}

fn build_or_read(sh: &Shell, args: &Args) -> Result<Image> {
    let layout = match &args.layout {
        Some(layout) => layout.clone(),
        None => {
            image::image(sh)?;
            image::layout_dir()
        }
    };
    Image::read(&layout).with_context(|| format!("reading the OCI layout {}", layout.display()))
}

/// What a `--plan-only` names: where the push would go, by the local image's digest.
fn image_reference(args: &Args, repository: Option<&str>, image: &Image) -> String {
    let repository = repository.unwrap_or(PENDING);
    match &args.registry {
        Some(registry) => {
            let host = registry.split("://").last().unwrap_or(registry);
            let name = repository.split_once('/').map_or(repository, |(_, n)| n);
            format!("{}/{name}@{}", host.trim_end_matches('/'), image.digest)
        }
        None => format!("{repository}@{}", image.digest),
    }
}

/// Pushes to the environment's repository (or `--registry`); returns the reference pushed.
async fn push_to(args: &Args, repository_url: &str, image: &Image) -> Result<String> {
    let (host, name) = repository_url
        .split_once('/')
        .with_context(|| format!("{repository_url:?} is not <registry>/<repository>"))?;
    let registry = args.registry.as_deref().unwrap_or(host);
    let tag = image
        .ref_name
        .clone()
        .unwrap_or_else(|| "deploy".to_owned());
    push::push_image(image, registry, name, &tag, Auth::Auto)
        .await
        .with_context(|| {
            format!(
                "pushing the image to {registry}/{name} (does the repository exist? `terraform \
                 output ecr_repository_url` names it; ECR needs ecr:InitiateLayerUpload and \
                 friends on it for this identity)"
            )
        })
}
