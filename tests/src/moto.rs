//! moto, the AWS emulator, for the tests of the `aws` profile: each [`Moto`] is a `moto_server`
//! of its own on a free loopback port (so tests never share AWS state), started from the venv
//! `cargo xtask ci` (or `cargo xtask venv`) installs in `target/venv`, and killed when dropped.
//! Without that venv a test fails saying how to install it; it never skips.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
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

    /// A CloudWatch Logs client of this emulator.
    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        logs_client(&self.endpoint)
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

/// The gateway run to its end with `env` (on top of a clean environment): its exit status and
/// everything it printed. Killed, and the test failed, if it is still running after a minute.
pub async fn run_gateway(env: &[(&str, String)]) -> (ExitStatus, String) {
    let mut cmd = tokio::process::Command::new(crate::gateway_bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", "0")
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the gateway on the aws profile should stop by itself within a minute")
        .expect("run the gateway");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}
