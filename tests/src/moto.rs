//! moto, the AWS emulator, for the tests of the `aws` profile: each [`Moto`] is a `moto_server`
//! of its own on a free loopback port (so tests never share AWS state), started from the venv
//! `cargo xtask ci` (or `cargo xtask venv`) installs in `target/venv`, and killed when dropped.
//! Without that venv a test fails saying how to install it; it never skips.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};

/// How long moto may take to answer after it starts (it imports every service's models).
const STARTUP: Duration = Duration::from_secs(60);
/// The region and the dummy keys every client of the emulator uses.
pub const REGION: &str = "us-east-1";
const KEY_ID: &str = "testing";
const SECRET_KEY: &str = "testing";

/// A running `moto_server`, stopped on drop.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

/// `target/venv/bin/moto_server` next to this test binary's target directory, or `MOTO_SERVER`.
pub fn moto_server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/<profile>/deps/<test binary>
    let target = exe
        .ancestors()
        .find(|dir| dir.join("venv").is_dir())
        .or_else(|| exe.ancestors().nth(3))
        .expect("the test binary lives in the target directory");
    target.join("venv/bin/moto_server")
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Moto::start`] with moto's own settings in its environment (such as
    /// `MOTO_ECS_SERVICE_RUNNING`, the running count its ECS services report).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let bin = moto_server_bin();
        assert!(
            bin.exists(),
            "moto is not installed ({} is missing): run `cargo xtask venv` (or `cargo xtask ci`), \
             which installs the pinned moto[server] into target/venv",
            bin.display()
        );
        let port = free_port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut moto = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        moto.wait_until_listening(port);
        moto
    }

    fn wait_until_listening(&mut self, port: u16) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().expect("moto's status") {
                panic!("moto_server exited before it answered: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {addr} within {STARTUP:?}"
            );
            // The polling interval while moto starts (there is no readiness signal to wait on).
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The environment that points a gateway's standard credential chain at this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", KEY_ID.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ]
    }

    /// An SSM client of this emulator, for a test to seed parameters with.
    pub fn ssm(&self) -> aws_sdk_ssm::Client {
        let config = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(KEY_ID, SECRET_KEY, None, None, "moto"))
            .build();
        aws_sdk_ssm::Client::from_conf(config)
    }

    /// The configuration of a Secrets Manager client of this emulator, for a test to add to
    /// (an interceptor counting requests, quicker retries) before building the client.
    pub fn secrets_config(&self) -> aws_sdk_secretsmanager::config::Builder {
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(KEY_ID, SECRET_KEY, None, None, "moto"))
    }

    /// A Secrets Manager client of this emulator.
    pub fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(self.secrets_config().build())
    }

    /// An ECS client of this emulator.
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(KEY_ID, SECRET_KEY, None, None, "moto"))
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    /// A CloudWatch Logs client of this emulator.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        logs_client(&self.endpoint)
    }

    /// A DynamoDB client of this emulator.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(KEY_ID, SECRET_KEY, None, None, "moto"))
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// The gateway's state table as `terraform/modules/state` makes it: `pk`/`sk`, on demand,
    /// TTL on `expires_at`.
    pub async fn create_state_table(&self, name: &str) {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let db = self.dynamodb();
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        db.create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk"))
            .attribute_definitions(attribute("sk"))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .send()
            .await
            .expect("create the state table");
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .unwrap();
        db.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .expect("turn the state table's TTL on");
    }
}

/// A CloudWatch Logs client of the emulator at `endpoint` (or a proxy in front of it).
pub fn logs_client(endpoint: &str) -> aws_sdk_cloudwatchlogs::Client {
    let config = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(KEY_ID, SECRET_KEY, None, None, "moto"))
        .build();
    aws_sdk_cloudwatchlogs::Client::from_conf(config)
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Moto {
    /// `xtask <args>` (the operator tasks) with the standard credential chain pointed at this
    /// emulator; killed, and the test failed, after a minute.
    pub async fn xtask(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = tokio::process::Command::new(crate::xtask_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(args)
            .kill_on_drop(true);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .expect("xtask finishes within a minute")
            .expect("run xtask")
    }
}

/// How a start of the gateway ended.
#[derive(Debug)]
pub struct Run {
    /// It became ready to serve (and was then stopped with SIGTERM).
    pub served: bool,
    /// Its exit code.
    pub code: Option<i32>,
    /// Everything it printed.
    pub output: String,
}

/// The gateway started with `env` (on top of a clean environment and an audit directory of its
/// own) until it either exits by itself or is ready to serve; a ready one is stopped with
/// SIGTERM. Killed, and the test failed, if neither happens within a minute.
pub async fn run_gateway(env: &[(&str, String)]) -> Run {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let audit_dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = tokio::process::Command::new(crate::gateway_bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("RUST_LOG", "trace")
        .env("AUDIT_DIR", audit_dir.path())
        .env("AUDIT_PREALLOC_MIB", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run the gateway");
    let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    for reader in [
        Box::pin(BufReader::new(stdout)) as std::pin::Pin<Box<dyn tokio::io::AsyncBufRead + Send>>,
        Box::pin(BufReader::new(stderr)),
    ] {
        let tx = lines_tx.clone();
        tokio::spawn(async move {
            let mut reader = reader.lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(lines_tx);
    let mut output = Vec::new();
    let mut served = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, lines.recv()).await {
        let ready = line.contains("gateway ready");
        output.push(line);
        if ready {
            served = true;
            let pid = child.id().expect("a running gateway has a pid").to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            break;
        }
    }
    let status = tokio::time::timeout_at(deadline, child.wait())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the gateway neither served nor stopped within a minute:\n{}",
                output.join("\n")
            )
        })
        .expect("wait for the gateway");
    while let Ok(Some(line)) = tokio::time::timeout(Duration::from_secs(5), lines.recv()).await {
        output.push(line);
    }
    Run {
        served,
        code: status.code(),
        output: output.join("\n"),
    }
}
