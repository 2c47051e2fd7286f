//! The black-box test harness: spawns the real `gateway` binary on a free port with its own
//! audit directory, signs requests the way Vapi does, and reads back what a user would see (HTTP
//! answers, the audit spool, the process's output).

pub mod aws_rig;
pub mod cognito;
pub mod fixture;
pub mod moto;
pub mod proxy;
pub mod registry;
pub mod sikka;
pub mod terraform;
pub mod twilio;
pub mod vapi_api;

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, OnceLock, mpsc},
    time::Duration,
};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The tests' clock: the gateway's own clock type, pinned when `GATEWAY_NOW` is set (as
/// `cargo xtask ci` does for its pinned runs), else the system clock. Every "now" a test uses
/// comes from here, and a spawned gateway is started at this clock's now, so both agree.
pub fn clock() -> gateway::clock::Clock {
    static CLOCK: OnceLock<gateway::clock::Clock> = OnceLock::new();
    *CLOCK.get_or_init(|| gateway::clock::Clock::from_env().expect("GATEWAY_NOW is valid"))
}

/// `GATEWAY_NOW` for a process the tests start: this clock's now, when it is pinned.
pub fn pinned_now_env() -> Option<(&'static str, String)> {
    let clock = clock();
    clock
        .is_pinned()
        .then(|| (gateway::clock::GATEWAY_NOW, clock.now().to_string()))
}

/// The secret every test gateway is started with (HMAC mode unless a test says otherwise).
pub const SECRET: &str = "test-secret-5f2b7c";

/// The gateway binary, built once per test process.
pub fn gateway_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("GATEWAY_BIN", "gateway"))
        .clone()
}

/// The `xtask` binary (the operator tasks), built like [`gateway_bin`]; `XTASK_BIN` overrides.
pub fn xtask_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_bin("XTASK_BIN", "xtask"))
        .clone()
}

/// `$<variable>`, else the workspace's binary `name` (of the package of the same name), built
/// into the target directory this test binary runs from.
fn workspace_bin(variable: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(variable) {
        return PathBuf::from(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", name, "--bin", name])
        .status()
        .unwrap_or_else(|e| panic!("run cargo build for {name}: {e}"));
    assert!(status.success(), "building {name} failed");
    let mut dir = std::env::current_exe().expect("test binary path");
    dir.pop(); // the test binary
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

/// Polls `check` every 100 ms until it returns `Some` (then that), or `within` passes (then
/// `None`): waiting on a condition, never sleeping as synchronisation.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    within: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running gateway.
pub struct TestApp {
    pub base: String,
    pub secret: String,
    pub audit_dir: tempfile::TempDir,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    pub client: reqwest::Client,
    /// The Sikka emulator behind the gateway, for `Backend::Sikka`.
    pub sikka: Option<sikka::SikkaEmulator>,
    /// The practices and credentials files of a Sikka-backed gateway.
    _files: Option<tempfile::TempDir>,
    /// The settings that bind a Sikka-backed gateway to its emulator (for [`TestApp::spawn_beside`]).
    sikka_env: Vec<(String, String)>,
}

/// Which practice system the demo practice is served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The in-memory sandbox practice.
    Sandbox,
    /// The Sikka adapter, in front of the Sikka emulator seeded with the same practice.
    Sikka,
}

/// Runs each named `async fn(Backend)` as two tests, one per backend, with the same
/// expectations: `both!(books_a_visit, cancels_a_visit);`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sandbox {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sandbox).await
                }
            )*
        }
        mod sikka {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sikka).await
                }
            )*
        }
    };
}

/// Who is calling: the Vapi context of a tool call.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `accountId` in the assistant's metadata: a claim the gateway checks against the binding.
    pub account: Option<String>,
    pub number: Option<String>,
    pub call_id: String,
    /// `call.phoneNumberId`: the Vapi number called, which binds the call to a practice.
    pub phone_number_id: Option<String>,
}

impl Default for Caller {
    fn default() -> Self {
        Self {
            account: Some("acct_demo".into()),
            number: None,
            call_id: unique("call"),
            phone_number_id: Some("pn_demo".into()),
        }
    }
}

impl Caller {
    pub fn from(number: &str) -> Self {
        Self {
            number: Some(number.into()),
            ..Self::default()
        }
    }

    /// A call to the practice `account` on its Vapi number `phone_number_id`.
    pub fn at(account: &str, phone_number_id: &str) -> Self {
        Self {
            account: Some(account.into()),
            phone_number_id: Some(phone_number_id.into()),
            ..Self::default()
        }
    }
}

/// A unique id for this process (tool call ids, call ids).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the gateway with the test defaults overridden by `env`.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        let audit_dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_in(audit_dir, env).await
    }

    /// Starts the gateway on an existing audit directory (restarts).
    pub async fn spawn_in(audit_dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(gateway_bin());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", "0")
            .env("VAPI_WEBHOOK_SECRET", SECRET)
            .env("AUDIT_DIR", audit_dir.path())
            .env("SANDBOX_WRITE_DELAY_MS", "0")
            // Dozens of gateways start in a test run: keep each spool's ready space small.
            .env("AUDIT_PREALLOC_MIB", "1")
            .env("BOOKING_CONFIRM_WAIT_MS", "2000")
            .env("RUST_LOG", "debug,poem=info")
            .envs(pinned_now_env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let secret = env
            .iter()
            .find(|(k, _)| *k == "VAPI_WEBHOOK_SECRET")
            .map_or(SECRET, |(_, v)| v)
            .to_owned();
        let mut child = cmd.spawn().expect("spawn the gateway");
        let output = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<Option<String>>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        {
            let output = output.clone();
            let ready_tx = ready_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains("gateway ready")
                        && let Ok(v) = serde_json::from_str::<Value>(&line)
                        && let Some(addr) = v["address"].as_str()
                    {
                        let _ = ready_tx.send(Some(addr.to_owned()));
                    }
                    output.lock().unwrap().push(line);
                }
                let _ = ready_tx.send(None);
            });
        }
        {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let base =
            tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(60)))
                .await
                .expect("join")
                .ok()
                .flatten();
        let Some(base) = base else {
            let _ = child.kill();
            panic!(
                "the gateway did not become ready:\n{}",
                output.lock().unwrap().join("\n")
            );
        };
        Self {
            base,
            secret,
            audit_dir,
            child,
            output,
            client: reqwest::Client::new(),
            sikka: None,
            _files: None,
            sikka_env: Vec::new(),
        }
    }

    /// Starts the gateway with the demo practice served by `backend`. For Sikka, an emulator
    /// seeded with the sandbox's practice is started, and the practice is bound to it through a
    /// practices file and a credentials file; `SANDBOX_WRITE_DELAY_MS` and
    /// `SANDBOX_EXTRA_PATIENTS` are honoured by the emulator too.
    pub async fn spawn_on(backend: Backend, env: &[(&str, &str)]) -> Self {
        Self::spawn_on_adjusted(backend, env, |_| {}).await
    }

    /// [`TestApp::spawn_on`], with the Sikka emulator's options changed by `adjust` first (the
    /// practice bound to it follows them: its office, practice id and PMS).
    pub async fn spawn_on_adjusted(
        backend: Backend,
        env: &[(&str, &str)],
        adjust: impl FnOnce(&mut sikka::SikkaOptions),
    ) -> Self {
        if backend == Backend::Sandbox {
            return Self::spawn_with(env).await;
        }
        let setting = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let mut options = sikka::SikkaOptions::for_today(fixture::today());
        options.writeback_delay = Duration::from_millis(
            setting("SANDBOX_WRITE_DELAY_MS").map_or(0, |v| v.parse().expect("milliseconds")),
        );
        if let Some(path) = setting("SANDBOX_EXTRA_PATIENTS") {
            options.extra_patients =
                serde_json::from_str(&std::fs::read_to_string(path).expect("extra patients file"))
                    .expect("extra patients JSON");
        }
        if let Some(path) = setting("SANDBOX_SCHEDULE") {
            let text = std::fs::read_to_string(path).expect("schedule file");
            options.schedule =
                Some(gateway::pms::sandbox::parse_schedule(&text).expect("a weekly schedule"));
        }
        // Tests throttle on purpose (the knobs); otherwise neither side's rate limit slows them.
        options.rate_limit_per_minute = 1_000_000;
        adjust(&mut options);
        let emulator = sikka::SikkaEmulator::start(options.clone()).await;
        let files = tempfile::tempdir().expect("temp dir");
        let practices = files.path().join("practices.json");
        let credentials = files.path().join("credentials.json");
        std::fs::write(
            &practices,
            json!({"practices": [{
                "account_id": "acct_demo", "name": fixture::PRACTICE_NAME, "time_zone": fixture::TIME_ZONE,
                "transfer_number": fixture::TRANSFER_NUMBER, "phone_number_ids": ["pn_demo"],
                "staff_sms_number": fixture::STAFF_SMS_NUMBER,
                "phone_numbers": ["+15105550199"],
                "pms": {"kind": "sikka", "office_id": options.office_id, "practice_id": options.practice_id,
                        "pms_type": options.pms},
            }]})
            .to_string(),
        )
        .expect("write practices");
        std::fs::write(
            &credentials,
            json!({"accounts": {"acct_demo": {"office_id": options.office_id, "secret_key": options.secret_key}}})
                .to_string(),
        )
        .expect("write credentials");
        let base_url = emulator.base_url().to_owned();
        let (practices, credentials) = (
            practices.display().to_string(),
            credentials.display().to_string(),
        );
        let mut all: Vec<(&str, &str)> = vec![
            ("SIKKA_REQUESTS_PER_MINUTE", "1000000"),
            ("PRACTICES_FILE", &practices),
            ("CREDENTIALS_FILE", &credentials),
            ("SIKKA_BASE_URL", &base_url),
            ("SIKKA_APP_ID", &options.app_id),
            ("SIKKA_APP_KEY", &options.app_key),
        ];
        all.extend(
            env.iter()
                .filter(|(k, _)| !k.starts_with("SANDBOX_"))
                .copied(),
        );
        let mut app = Self::spawn_with(&all).await;
        app.sikka_env = all[..6]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        app.sikka = Some(emulator);
        app._files = Some(files);
        app
    }

    /// A second gateway on `audit_dir`, serving the same practice through the same Sikka
    /// emulator as this Sikka-backed one (whose files stay in place while `self` lives).
    pub async fn spawn_beside(&self, audit_dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        assert!(
            !self.sikka_env.is_empty(),
            "spawn_beside needs a Sikka-backed gateway"
        );
        let mut all: Vec<(&str, &str)> = self
            .sikka_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend(env.iter().copied());
        Self::spawn_in(audit_dir, &all).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the process printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (no chance to flush or drain) and returns its audit
    /// directory, to start another gateway on the same storage.
    pub fn kill(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.audit_dir, tempfile::tempdir().expect("temp dir"))
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn terminate(mut self) -> (std::process::ExitStatus, String, tempfile::TempDir) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for the gateway");
        // Give the reader threads the last lines.
        let output = self.output();
        let dir = std::mem::replace(&mut self.audit_dir, tempfile::tempdir().expect("temp dir"));
        (status, output, dir)
    }

    /// Vapi's default HMAC: hex(HMAC-SHA256(secret, "{timestamp}.{body}")).
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key length");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    /// POSTs `body` to `path`, signed freshly (see [`fresh_timestamp`]): the gateway refuses a
    /// signature it has already seen, so sending the same body twice is two distinct requests.
    pub async fn post_signed(&self, path: &str, body: &[u8]) -> reqwest::Response {
        let ts = fresh_timestamp();
        let sig = self.sign(&ts, body);
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .header("x-timestamp", ts)
            .header("x-signature", sig)
            .body(body.to_vec())
            .send()
            .await
            .expect("request")
    }

    /// A `tool-calls` message for one call of `tool`.
    pub fn message(tool: &str, args: Value, caller: &Caller, tool_call_id: &str) -> Value {
        let mut message = json!({
            "type": "tool-calls",
            "timestamp": 1_728_393_715_369_u64,
            "toolCallList": [{"id": tool_call_id, "type": "function", "function": {"name": tool, "arguments": args}}],
            "call": {"id": caller.call_id, "orgId": "org_test", "type": "inboundPhoneCall"},
        });
        if let Some(id) = &caller.phone_number_id {
            message["call"]["phoneNumberId"] = json!(id);
        }
        if let Some(account) = &caller.account {
            message["assistant"] =
                json!({"name": "Receptionist", "metadata": {"accountId": account}});
        }
        if let Some(number) = &caller.number {
            message["customer"] = json!({"number": number});
            message["call"]["customer"] = json!({"number": number});
        }
        json!({ "message": message })
    }

    /// Calls `tool` through its own route and returns the one result object.
    pub async fn tool(&self, tool: &str, args: Value, caller: &Caller) -> ToolAnswer {
        self.tool_with_id(tool, args, caller, &unique("tc")).await
    }

    pub async fn tool_with_id(
        &self,
        tool: &str,
        args: Value,
        caller: &Caller,
        id: &str,
    ) -> ToolAnswer {
        let body = serde_json::to_vec(&Self::message(tool, args, caller, id)).unwrap();
        let resp = self
            .post_signed(&format!("/vapi/tools/{tool}"), &body)
            .await;
        assert_eq!(resp.status().as_u16(), 200, "tool route answered non-200");
        let v: Value = resp.json().await.expect("json");
        let results = v["results"].as_array().expect("results array");
        assert_eq!(results.len(), 1, "one result per call: {v}");
        let r = &results[0];
        assert_eq!(r["toolCallId"], id);
        assert_eq!(r["name"], tool);
        ToolAnswer {
            result: r["result"].as_str().map(str::to_owned),
            error: r["error"].as_str().map(str::to_owned),
        }
    }

    /// The first open 30-minute slot on `date`: its time (`HH:MM`) and provider id.
    pub async fn first_free_slot(&self, date: jiff::civil::Date) -> (String, String) {
        let v = self
            .tool(
                "check_availability",
                json!({"date": date.to_string(), "max_results": 20}),
                &Caller::default(),
            )
            .await
            .json();
        let slot = &v["slots"][0];
        (
            slot["time"].as_str().expect("a free slot").to_owned(),
            slot["provider_id"].as_str().expect("a provider").to_owned(),
        )
    }

    /// The denied authentications audited (of `resource`, or any), once they reach `expected`:
    /// after the first in a second, a source's denials are written as one count when that
    /// second closes, so this waits (up to 5 s) for the count to be in. Less than `expected`
    /// after that is what it returns.
    pub async fn denials(&self, resource: Option<&str>, expected: u64) -> u64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let seen = denials_represented(&self.audit_entries(), resource);
            if seen >= expected || std::time::Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The audit spool's entries so far.
    pub fn audit_entries(&self) -> Vec<Value> {
        audit_entries_in(self.audit_dir.path())
    }
}

/// A signing time in milliseconds that no earlier request of this process used: now, or one
/// millisecond after the last one handed out. Each signed request is then unique, as each of
/// Vapi's is, even when a test re-sends the same body on purpose (a repeated `toolCallId`).
pub fn fresh_timestamp() -> String {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = clock().now().as_millisecond();
    let previous = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .expect("the update always succeeds");
    now.max(previous + 1).to_string()
}

/// How many denied authentications `entries` stand for (of `resource`, or any): one each, and
/// `count: N` more for each entry that aggregates a flood (see the gateway's `audit::denials`).
pub fn denials_represented(entries: &[Value], resource: Option<&str>) -> u64 {
    entries
        .iter()
        .filter(|e| e["outcome"] == "denied" && e["action"] == "authenticate")
        .filter(|e| resource.is_none_or(|r| e["resource"] == r))
        .map(|e| {
            let reason = e["reason"].as_str().unwrap_or_default();
            reason
                .strip_prefix("count: ")
                .and_then(|rest| rest.split(' ').next()?.parse().ok())
                .unwrap_or(1)
        })
        .sum()
}

/// The entries of the spool in `dir`. A running spool keeps zeroed space after its last line;
/// reading stops there.
pub fn audit_entries_in(dir: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap_or_default();
    let text = text.split('\0').next().unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("audit line is JSON"))
        .collect()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One tool result as the assistant sees it.
#[derive(Debug, Clone)]
pub struct ToolAnswer {
    pub result: Option<String>,
    pub error: Option<String>,
}

impl ToolAnswer {
    /// The `result`, failing the test if the tool answered an error.
    pub fn ok(&self) -> &str {
        match (&self.result, &self.error) {
            (Some(r), None) => r,
            _ => panic!("expected a result, got {self:?}"),
        }
    }

    /// The `error`, failing the test if the tool answered a result.
    pub fn err(&self) -> &str {
        match (&self.result, &self.error) {
            (None, Some(e)) => e,
            _ => panic!("expected an error, got {self:?}"),
        }
    }

    /// The `result` parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("result is not JSON ({e}): {}", self.ok()))
    }
}
