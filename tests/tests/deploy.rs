//! `cargo xtask deploy`, end to end on the AWS emulator: `--env local` applies
//! `terraform/environments/local` to moto (the stores, the image repository, the ECS service),
//! pushes the image to Debian's `docker-registry` (moto serves ECR's API but no registry, so
//! `--registry` sends the push there, under the ECR repository's name), and the service's task
//! definition names the pushed digest; `--plan-only` changes nothing; a missing terraform or
//! missing credentials stop it before anything is built or pushed, saying what to do. A small
//! OCI layout (`--layout`) stands in for the release build, which `tests/tests/image.rs` checks.
//!
//! Needs terraform and its provider mirror (as `terraform_local`), moto (`cargo xtask venv`) and
//! `docker-registry`; a missing one fails the test.

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::{Duration, Instant},
};

use gateway_tests::{moto::Moto, registry::Registry};
use serde_json::json;

/// init + apply of the stores and the service on moto take about 30 s on a quiet machine.
const DEPLOY: Duration = Duration::from_secs(600);
const REPOSITORY: &str = "parlae-local-gateway";

/// The variables `environments/local` needs beyond the image: moto's URL and the settings.
fn var_file(dir: &Path, moto: &Moto) -> String {
    let path = dir.join("local.tfvars.json");
    let vars = json!({
        "endpoint": moto.endpoint,
        "settings": {
            "VAPI_WEBHOOK_SECRET": "deploy-test-secret",
            "SIKKA_APP_ID": "app",
            "SIKKA_APP_KEY": "key",
            "SIKKA_CALLBACK_KEY": "callback",
            "PUBLIC_BASE_URL": "https://gateway.example.test",
        },
    });
    std::fs::write(&path, vars.to_string()).unwrap();
    path.display().to_string()
}

/// `xtask deploy <args>` in a clean environment plus `env` (terraform's mirror passed through);
/// its own target directory (`CARGO_TARGET_DIR`) so parallel tests never share its files.
async fn deploy(args: &[&str], env: &[(&str, String)], target: &Path) -> Output {
    let mut cmd = tokio::process::Command::new(gateway_tests::xtask_bin());
    cmd.env_clear()
        .env("CARGO_TARGET_DIR", target)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .arg("deploy")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for name in ["PATH", "TF_PLUGIN_MIRROR", "TERRAFORM"] {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (*k, v)));
    let out = tokio::time::timeout(DEPLOY, cmd.output())
        .await
        .expect("the deploy finishes within ten minutes")
        .expect("run xtask deploy");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// One deploy's stage: moto, and a scratch directory with a small OCI layout (`tag`, `content`),
/// the variables and terraform's work directory.
struct Stage {
    moto: Moto,
    dir: tempfile::TempDir,
    layout: PathBuf,
    /// The layout's manifest digest.
    digest: String,
    vars: String,
}

impl Stage {
    fn new(moto_env: &[(&str, &str)], tag: &str, content: &str) -> Self {
        let moto = Moto::start_with(moto_env);
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("oci");
        let digest = gateway_tests::registry::write_layout(&layout, tag, content);
        let vars = var_file(dir.path(), &moto);
        Self {
            moto,
            dir,
            layout,
            digest,
            vars,
        }
    }

    /// `--env local` with `layout`, this stage's variables and work directory, pushing to
    /// `registry`; then `extra`.
    fn args(&self, layout: &Path, registry: &str, extra: &[&str]) -> Vec<String> {
        let work = self.dir.path().join("work");
        let common = [
            "--env",
            "local",
            "--layout",
            layout.to_str().unwrap(),
            "--registry",
            registry,
            "--var-file",
            &self.vars,
            "--work-dir",
            work.to_str().unwrap(),
        ];
        common
            .iter()
            .chain(extra)
            .map(|a| (*a).to_owned())
            .collect()
    }

    /// The deploy of this stage's layout to `registry`, then `extra`, against its moto.
    async fn deploy(&self, registry: &str, extra: &[&str]) -> Output {
        self.deploy_layout(&self.layout, registry, extra).await
    }

    async fn deploy_layout(&self, layout: &Path, registry: &str, extra: &[&str]) -> Output {
        let args = self.args(layout, registry, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        deploy(&args, &self.moto.env(), self.dir.path()).await
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The image the ECS service's current task definition runs.
async fn service_image(moto: &Moto) -> String {
    let ecs = moto.ecs();
    let services = ecs
        .describe_services()
        .cluster(REPOSITORY)
        .services(REPOSITORY)
        .send()
        .await
        .expect("DescribeServices");
    let service = &services.services()[0];
    let definition = ecs
        .describe_task_definition()
        .task_definition(service.task_definition().expect("a task definition"))
        .send()
        .await
        .expect("DescribeTaskDefinition");
    let definition = definition.task_definition().expect("the task definition");
    definition.container_definitions()[0]
        .image()
        .expect("an image")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_local_pushes_the_image_and_the_service_runs_its_digest() {
    let stage = Stage::new(
        &[("MOTO_ECS_SERVICE_RUNNING", "1")],
        "sha-deploytest",
        "first",
    );
    let (moto, digest) = (&stage.moto, &stage.digest);
    let registry = Registry::start().await;
    let wait = ["--wait-seconds", "60"];

    let started = Instant::now();
    let out = stage.deploy(&registry.host, &wait).await;
    assert!(out.status.success(), "deploy failed:\n{}", stderr(&out));
    eprintln!("deploy --env local took {:?}", started.elapsed());
    let reference = format!("{}/{REPOSITORY}@{digest}", registry.host);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), reference);
    let log = stderr(&out);
    for step in 1..=8 {
        assert!(log.contains(&format!("[{step}/8]")), "step {step}:\n{log}");
    }
    assert!(log.contains("running 1/1"), "{log}");

    // The registry holds the image under its digest and tag; the service runs exactly that.
    assert_eq!(
        registry
            .manifest_digest(REPOSITORY, digest)
            .await
            .as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        registry
            .manifest_digest(REPOSITORY, "sha-deploytest")
            .await
            .as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(service_image(moto).await, reference);

    // A second image deploys over the first: a new task definition names the new digest.
    let layout2 = stage.dir.path().join("oci2");
    let digest2 = gateway_tests::registry::write_layout(&layout2, "sha-deploytest2", "second");
    let out = stage.deploy_layout(&layout2, &registry.host, &wait).await;
    assert!(
        out.status.success(),
        "second deploy failed:\n{}",
        stderr(&out)
    );
    let reference2 = format!("{}/{REPOSITORY}@{digest2}", registry.host);
    assert_eq!(service_image(moto).await, reference2);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_only_plans_with_the_digest_and_changes_nothing() {
    let stage = Stage::new(&[("MOTO_ECS_SERVICE_RUNNING", "1")], "sha-planonly", "plan");
    let (moto, digest) = (&stage.moto, &stage.digest);
    let registry = Registry::start().await;
    let out = stage.deploy(&registry.host, &["--plan-only"]).await;
    let log = stderr(&out);
    assert!(out.status.success(), "plan-only failed:\n{log}");
    assert!(log.contains("[4/4] terraform plan"), "{log}");
    assert!(
        log.contains(digest.as_str()),
        "the plan names the digest:\n{log}"
    );
    assert!(log.contains("nothing pushed, nothing applied"), "{log}");
    assert!(out.stdout.is_empty(), "nothing deployed, nothing printed");

    // Nothing was pushed, no task definition registered, no repository or state table created.
    assert!(registry.catalog().await.is_empty());
    let definitions = moto
        .ecs()
        .list_task_definitions()
        .send()
        .await
        .expect("ListTaskDefinitions");
    assert!(
        definitions.task_definition_arns().is_empty(),
        "{definitions:?}"
    );
    let parameters = moto
        .ssm()
        .describe_parameters()
        .send()
        .await
        .expect("DescribeParameters");
    assert!(parameters.parameters().is_empty(), "{parameters:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_terraform_the_deploy_stops_first_saying_so_and_pushes_nothing() {
    let stage = Stage::new(&[], "sha-noterraform", "none");
    let registry = Registry::start().await;
    let empty = stage.dir.path().join("empty-bin");
    std::fs::create_dir(&empty).unwrap();
    let mut env = stage.moto.env();
    env.push(("PATH", empty.display().to_string()));
    let args = stage.args(&stage.layout, &registry.host, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = deploy(&args, &env, stage.dir.path()).await;
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains("terraform is not installed") && log.contains("install terraform 1.11"),
        "{log}"
    );
    assert!(!log.contains("[2/8]"), "stopped at the checks:\n{log}");
    assert!(registry.catalog().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_aws_credentials_the_deploy_stops_before_building_anything() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    // No layout: past the checks it would start the release build.
    let out = deploy(
        &["--env", "local"],
        &[("AWS_REGION", "us-east-1".to_owned())],
        dir.path(),
    )
    .await;
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains("AWS credentials are missing or invalid") && log.contains("aws sso login"),
        "{log}"
    );
    assert!(!log.contains("[2/8]"), "stopped at the checks:\n{log}");
    assert!(
        !dir.path().join("image").exists(),
        "nothing built: {:?}",
        std::fs::read_dir(dir.path()).unwrap().collect::<Vec<_>>()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_never_runs_its_tasks_fails_the_deploy_at_the_deadline() {
    // moto reports no running task: the rollout stays IN_PROGRESS.
    let stage = Stage::new(&[("MOTO_ECS_SERVICE_RUNNING", "0")], "sha-stuck", "stuck");
    let registry = Registry::start().await;
    let out = stage.deploy(&registry.host, &["--wait-seconds", "6"]).await;
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(log.contains("running 0/1"), "{log}");
    assert!(
        log.contains("was not stable after 6s") && log.contains("--wait-seconds"),
        "{log}"
    );
    assert!(
        out.stdout.is_empty(),
        "no reference printed for a deploy that did not finish"
    );
}

/// `.github/<path>` parsed as YAML (PyYAML from the test venv), as JSON.
fn workflow(path: &str) -> serde_json::Value {
    let python = gateway_tests::moto::moto_server_bin().with_file_name("python");
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join(".github")
        .join(path);
    let out = std::process::Command::new(&python)
        .args([
            "-c",
            "import json, sys, yaml; d = yaml.safe_load(open(sys.argv[1])); \
             d['on'] = d.pop(True, d.get('on')); print(json.dumps(d))",
        ])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "run {} (cargo xtask venv installs it): {e}",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{} is not YAML:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `run:` lines of a job's steps.
fn runs(job: &serde_json::Value) -> Vec<String> {
    job["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_workflows_run_ci_and_deploy_each_environment_one_at_a_time_with_oidc() {
    let ci = workflow("workflows/ci.yml");
    assert_eq!(ci["on"]["push"]["branches"], json!(["main"]));
    assert!(ci["on"].get("pull_request").is_some() && ci["on"].get("workflow_call").is_some());
    assert!(runs(&ci["jobs"]["ci"]).contains(&"cargo xtask ci".to_owned()));
    let setup = workflow("actions/setup/action.yml");
    let setup = setup["runs"]["steps"].to_string();
    assert!(setup.contains("\"terraform_version\":\"1.11"), "{setup}");
    assert!(setup.contains("providers mirror") && setup.contains("TF_PLUGIN_MIRROR"));

    let deploy = workflow("workflows/deploy.yml");
    assert_eq!(deploy["on"]["workflow_run"]["workflows"], json!(["CI"]));
    assert_eq!(deploy["on"]["push"]["tags"], json!(["v*"]));
    for (env, job) in [
        ("dev", &deploy["jobs"]["dev"]),
        ("prod", &deploy["jobs"]["prod"]),
    ] {
        assert_eq!(job["environment"], env);
        assert_eq!(job["concurrency"]["group"], format!("deploy-{env}"));
        assert_eq!(job["concurrency"]["cancel-in-progress"], false);
        assert_eq!(job["permissions"]["id-token"], "write");
        let steps = job["steps"].as_array().unwrap();
        let aws = steps
            .iter()
            .find(|s| s["uses"] == "aws-actions/configure-aws-credentials@v4")
            .unwrap_or_else(|| panic!("{env}: no configure-aws-credentials"));
        assert_eq!(
            aws["with"]["role-to-assume"],
            "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        );
        let runs = runs(job).join("\n");
        // The deploy refuses local state: the job writes the environment's backend first.
        assert!(
            runs.contains(&format!("terraform/environments/{env}/backend.tf")),
            "{runs}"
        );
        assert!(
            runs.contains(&format!("cargo xtask deploy --env {env}")),
            "{runs}"
        );
    }
    assert_eq!(deploy["jobs"]["prod"]["needs"], "ci");
    assert_eq!(deploy["jobs"]["ci"]["uses"], "./.github/workflows/ci.yml");
    let dev_if = deploy["jobs"]["dev"]["if"].as_str().unwrap();
    assert!(dev_if.contains("conclusion == 'success'"), "{dev_if}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_that_refuses_the_push_stops_the_deploy_before_the_service_is_applied() {
    let stage = Stage::new(
        &[("MOTO_ECS_SERVICE_RUNNING", "1")],
        "sha-refused",
        "refused",
    );
    let moto = &stage.moto;
    // A registry that wants credentials the deploy does not have.
    let registry = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(401))
        .mount(&registry)
        .await;
    let host = registry.address().to_string();
    let out = stage.deploy(&host, &[]).await;
    assert!(!out.status.success());
    let log = stderr(&out);
    assert!(
        log.contains(&format!("pushing the image to {host}/{REPOSITORY}"))
            && log.contains("401")
            && log.contains("credentials"),
        "{log}"
    );
    assert!(
        !log.contains("[6/8]"),
        "no plan after a failed push:\n{log}"
    );
    let definitions = moto
        .ecs()
        .list_task_definitions()
        .send()
        .await
        .expect("ListTaskDefinitions");
    assert!(
        definitions.task_definition_arns().is_empty(),
        "{definitions:?}"
    );
}
