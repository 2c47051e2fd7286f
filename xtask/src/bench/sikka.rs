//! The Sikka path: a release gateway bound to the Sikka emulator (`sikka-emulator`, a process),
//! `check_availability` through it at a fixed offered load, and the Sikka reads that one call
//! makes sent straight to the emulator at the same load. The difference is what the gateway adds
//! to a tool call.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use xshell::{Shell, cmd};

use super::{SECRET, probe, requests, requests::Signer, wrk};
use crate::{banner, cargo, gateway::Gateway, target_dir};

/// Connections carrying it: enough that a slow answer does not hold the schedule back.
pub const CONNECTIONS: u32 = 16;
/// The aim: the gateway adds less than this to a tool call at p99.
pub const AIM_ADDED_P99_US: i64 = 1000;
/// How long the emulator may take to print its ready line (or its counters).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

const AVAILABILITY: &str = "/vapi/tools/check_availability";

/// What the Sikka path measured.
pub struct Measured {
    pub threads: u32,
    /// The offered load, in calls (or direct reads) per second.
    pub rate: f64,
    /// `/proc/loadavg`'s 1-minute figure at the end: others' load skews the numbers.
    pub load_average: Option<f64>,
    /// `check_availability` through the gateway.
    pub gateway: wrk::Outcome,
    pub gateway_peak_rss_kib: Option<u64>,
    /// The same Sikka read straight to the emulator.
    pub direct: wrk::Outcome,
    /// What that read is (`GET /v4/appointments?…`).
    pub direct_request: String,
}

impl Measured {
    /// Gateway minus direct, at p50 and p99 (differences of percentiles), in µs.
    pub fn added_us(&self) -> (i64, i64) {
        let d = |g: u64, s: u64| g as i64 - s as i64;
        (
            d(self.gateway.p50_us, self.direct.p50_us),
            d(self.gateway.p99_us, self.direct.p99_us),
        )
    }
}

pub fn run(
    sh: &Shell,
    seconds: u32,
    threads: u32,
    rate: f64,
    gateway_binary: &Path,
) -> Result<Measured> {
    if !rate.is_finite() || rate <= 0.0 {
        bail!("--sikka-rate must be above 0");
    }
    banner(
        "Sikka path: building the emulator (cargo build --release -p gateway-tests --bin sikka-emulator)",
    );
    let cargo = cargo();
    cmd!(
        sh,
        "{cargo} build --release -p gateway-tests --bin sikka-emulator"
    )
    .run()?;
    let scratch = crate::gateway::TempDir::new("xtask-bench-sikka")?;
    let emulator = Emulator::start(
        &target_dir().join("release/sikka-emulator"),
        &scratch.path().join("sikka-emulator.log"),
    )?;
    banner(&format!(
        "sikka emulator ready at {} (pid {})",
        emulator.base_url,
        emulator.child.id()
    ));

    // The practice bound to the emulator, as `TestApp::spawn_on(Backend::Sikka, …)` does.
    let s = |k: &str| emulator.ready[k].as_str().unwrap_or_default().to_owned();
    let practices = scratch.path().join("practices.json");
    let credentials = scratch.path().join("credentials.json");
    fs::write(
        &practices,
        json!({"practices": [{
            "account_id": "acct_demo", "name": "Bright Smile Dental",
            "time_zone": "America/Los_Angeles", "transfer_number": "+15105550198",
            "phone_number_ids": ["pn_demo"], "phone_numbers": ["+15105550199"],
            "pms": {"kind": "sikka", "office_id": s("office_id"),
                    "practice_id": s("practice_id"), "pms_type": s("pms")},
        }]})
        .to_string(),
    )?;
    fs::write(
        &credentials,
        json!({"accounts": {"acct_demo": {"office_id": s("office_id"), "secret_key": s("secret_key")}}})
            .to_string(),
    )?;
    let env = [
        ("PROFILE", "local".to_owned()),
        ("GATEWAY_NOW", requests::NOW.to_owned()),
        // The secret-header mode: a signed request is accepted once (replays are refused), and
        // wrk sends each prepared request many times. Requests carry both, so a switch back to
        // hmac needs only this line (and fresh signatures per request).
        ("VAPI_AUTH_MODE", "secret".to_owned()),
        ("VAPI_WEBHOOK_SECRET", SECRET.to_owned()),
        ("AUDIT_FSYNC", "true".to_owned()),
        (
            "AUDIT_DIR",
            scratch.path().join("audit").display().to_string(),
        ),
        ("RUST_LOG", "warn,gateway::startup=info".to_owned()),
        ("PRACTICES_FILE", practices.display().to_string()),
        ("CREDENTIALS_FILE", credentials.display().to_string()),
        ("SIKKA_BASE_URL", emulator.base_url.clone()),
        ("SIKKA_APP_ID", s("app_id")),
        ("SIKKA_APP_KEY", s("app_key")),
        ("SIKKA_REQUESTS_PER_MINUTE", "1000000".to_owned()),
    ];
    let gateway = Gateway::start(gateway_binary, &env, &scratch.path().join("gateway.log"))?;
    banner(&format!(
        "gateway on Sikka ready at {} (pid {})",
        gateway.address,
        gateway.pid()
    ));

    // Signed now: the emulator build above may have taken a while.
    let signer = Signer::now(SECRET);
    let availability = signer.sign(requests::check_availability());
    let date = requests::availability_date();

    banner("Sikka path warm-up: one signed call of each kind");
    let first = probe::tool_call(&gateway.address, AVAILABILITY, &signer, &availability)?;
    let result: Value = serde_json::from_str(&first)?;
    if result.get("error").is_some() {
        bail!("POST {AVAILABILITY} through Sikka answered an error: {first}");
    }
    eprintln!("POST {AVAILABILITY} ({date}): 200, first result {first}");

    // Which Sikka requests one call makes once the caches are warm: the emulator's counters
    // around one more call.
    emulator.counters()?;
    probe::tool_call(&gateway.address, AVAILABILITY, &signer, &availability)?;
    let made = emulator.counters()?;
    eprintln!("Sikka requests of one warm check_availability call: {made:?}");
    let appointments = format!("GET {}/appointments", emulator.path_prefix);
    if made.len() != 1 || made.get(&appointments) != Some(&1) {
        bail!(
            "one warm check_availability call made {made:?} on Sikka, not one {appointments}; \
             the direct replay (xtask/src/bench/sikka.rs) needs updating"
        );
    }
    // The query the adapter sends (app/src/pms/sikka: `walk` pages, `appointments`,
    // `appointments_between` for the asked day; one page of 500 holds a day).
    let query = format!("offset=0&limit=500&fields=get_all&startdate={date}&enddate={date}");
    let key = emulator.request_key()?;
    let read_path = format!("{}/appointments?{query}", emulator.path_prefix);
    let (status, body) = probe::exchange(
        &emulator.origin,
        &format!("GET {read_path} HTTP/1.0\r\nRequest-Key: {key}\r\n"),
        "",
    )?;
    let items = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["items"].as_array().map(Vec::len));
    if status != "200" || items.is_none() {
        bail!("GET {read_path} answered {status}: {body}");
    }
    eprintln!(
        "GET {read_path}: 200, {} appointments, {} bytes",
        items.unwrap_or(0),
        body.len()
    );

    let per_thread = rate / f64::from(threads);
    let run_paced = |name: &str, url: &str, lua: String| -> Result<wrk::Outcome> {
        banner(&format!(
            "{name}: wrk -t{threads} -c{CONNECTIONS} -d{seconds}s, paced to {rate:.0}/s"
        ));
        let script = scratch.path().join(format!("{name}.lua"));
        fs::write(&script, wrk::paced(&lua, per_thread))?;
        wrk::run(sh, url, &script, threads, CONNECTIONS, seconds)
    };
    let peak_reset = super::reset_peak_rss(gateway.pid());
    let through = run_paced(
        "sikka_check_availability",
        &format!("{}{AVAILABILITY}", gateway.address),
        wrk::static_post_script(&signer, &availability),
    )?;
    let gateway_peak_rss_kib = super::peak_rss_kib(gateway.pid());
    if !peak_reset {
        eprintln!("note: could not reset the peak RSS; it is the peak since start");
    }
    let direct = run_paced(
        "sikka_direct_appointments",
        &format!("{}{read_path}", emulator.origin),
        wrk::get_script(&[("Request-Key", &key)]),
    )?;

    let pid = gateway.pid();
    let status = gateway.stop()?;
    banner(&format!("gateway on Sikka (pid {pid}) stopped: {status}"));
    emulator.stop()?;
    let load_average = fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok());
    Ok(Measured {
        threads,
        rate,
        load_average,
        gateway: through,
        gateway_peak_rss_kib,
        direct,
        direct_request: format!("GET {read_path}"),
    })
}

/// The `sikka-emulator` process; stopped (SIGTERM) when dropped.
struct Emulator {
    child: Child,
    /// Its ready line.
    ready: Value,
    /// `http://127.0.0.1:PORT/v4`
    base_url: String,
    /// `http://127.0.0.1:PORT`
    origin: String,
    /// `/v4`
    path_prefix: String,
    lines: mpsc::Receiver<String>,
}

impl Emulator {
    fn start(binary: &Path, log: &Path) -> Result<Self> {
        let mut child = Command::new(binary)
            .env("GATEWAY_NOW", requests::NOW)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(log).with_context(|| format!("creating {}", log.display()))?)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut emulator = Emulator {
            child,
            ready: Value::Null,
            base_url: String::new(),
            origin: String::new(),
            path_prefix: String::new(),
            lines,
        };
        emulator.ready = emulator.wait_for("sikka emulator ready")?;
        let base_url = emulator.ready["base_url"]
            .as_str()
            .context("no base_url in the emulator's ready line")?
            .to_owned();
        let slash = base_url
            .strip_prefix("http://")
            .and_then(|rest| rest.find('/'))
            .context("the emulator's base_url is not http://HOST/PATH")?
            + "http://".len();
        emulator.origin = base_url[..slash].to_owned();
        emulator.path_prefix = base_url[slash..].to_owned();
        emulator.base_url = base_url;
        Ok(emulator)
    }

    /// The next stdout line whose `message` is `message`, as JSON.
    fn wait_for(&self, message: &str) -> Result<Value> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .with_context(|| format!("the emulator printed no {message:?} line"))?;
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == message
            {
                return Ok(v);
            }
        }
    }

    /// The requests counted since the last call (`"GET /v4/appointments"` → n); starts afresh.
    fn counters(&self) -> Result<BTreeMap<String, u64>> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-USR1", &pid]).status()?;
        if !sent.success() {
            bail!("kill -USR1 {pid} failed");
        }
        let line = self.wait_for("sikka emulator counters")?;
        Ok(line["requests"]
            .as_object()
            .context("no requests in the counters line")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect())
    }

    /// A request key for the office (`POST /request_key`, grant_type request_key).
    fn request_key(&self) -> Result<String> {
        let s = |k: &str| self.ready[k].clone();
        let body = json!({
            "grant_type": "request_key", "office_id": s("office_id"),
            "secret_key": s("secret_key"), "app_id": s("app_id"), "app_key": s("app_key"),
        })
        .to_string();
        let head = format!(
            "POST {}/request_key HTTP/1.0\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n",
            self.path_prefix,
            body.len()
        );
        let (status, answer) = probe::exchange(&self.origin, &head, &body)?;
        let key = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["request_key"].as_str().map(str::to_owned));
        match key {
            Some(key) if status == "200" => Ok(key),
            _ => bail!("POST /request_key answered {status}: {answer}"),
        }
    }

    fn stop(mut self) -> Result<()> {
        let status = self.terminate()?;
        banner(&format!("sikka emulator stopped: {status}"));
        Ok(())
    }

    fn terminate(&mut self) -> Result<std::process::ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        Ok(self.child.wait()?)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.terminate();
    }
}

/// The Sikka path's table, after the main one.
pub fn print_table(m: &Measured) {
    println!(
        "\nSikka path: check_availability at a fixed offered load of {:.0} calls/s \
         (wrk -t{} -c{CONNECTIONS}, paced with delay())",
        m.rate, m.threads
    );
    println!(
        "{:<34} {:>9} {:>10} {:>10} {:>13} {:>9} {:>11}",
        "path", "calls/s", "p50", "p99", "socket errs", "non-2xx", "peak RSS"
    );
    let row = |name: &str, o: &wrk::Outcome, rss: Option<u64>| {
        let rss = rss.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0));
        println!(
            "{name:<34} {:>9.0} {:>10} {:>10} {:>13} {:>9} {rss:>11}",
            o.requests_per_second(),
            super::millis(o.p50_us),
            super::millis(o.p99_us),
            o.socket_errors,
            o.non_2xx,
        );
    };
    row(
        "gateway check_availability",
        &m.gateway,
        m.gateway_peak_rss_kib,
    );
    row("direct GET /v4/appointments", &m.direct, None);
    let (p50, p99) = m.added_us();
    let verdict = if p99 < AIM_ADDED_P99_US {
        "met"
    } else {
        "missed"
    };
    println!(
        "{:<34} {:>9} {:>10} {:>10}   aim: added p99 < {} ms: {verdict}",
        "added by the gateway per call",
        "",
        signed_millis(p50),
        signed_millis(p99),
        AIM_ADDED_P99_US as f64 / 1000.0,
    );
    println!("(direct: {})", m.direct_request);
    let short = [&m.gateway, &m.direct]
        .iter()
        .any(|o| o.requests_per_second() < 0.95 * m.rate);
    if short {
        println!(
            "note: a path carried less than 95% of the offered load: the machine could not keep up, \
             and its latencies include queueing"
        );
    }
    if let Some(load) = m.load_average {
        println!("load average (1 min) at the end: {load:.2}");
    }
}

fn signed_millis(us: i64) -> String {
    format!("{:+.2} ms", us as f64 / 1000.0)
}

/// The Sikka path's entries in `bench.json`.
pub fn report(m: &Measured) -> Vec<Value> {
    let entry = |scenario: &str, o: &wrk::Outcome, rss: Option<u64>| {
        json!({
            "scenario": scenario,
            "requests": o.requests,
            "requests_per_second": o.requests_per_second(),
            "offered_per_second": m.rate,
            "connections": CONNECTIONS,
            "p50_us": o.p50_us,
            "p99_us": o.p99_us,
            "max_us": o.max_us,
            "socket_errors": o.socket_errors,
            "non_2xx": o.non_2xx,
            "peak_rss_kib": rss,
        })
    };
    let (p50, p99) = m.added_us();
    let mut direct = entry("sikka_direct_appointments", &m.direct, None);
    direct["request"] = m.direct_request.clone().into();
    vec![
        entry(
            "sikka_check_availability",
            &m.gateway,
            m.gateway_peak_rss_kib,
        ),
        direct,
        json!({
            "scenario": "sikka_gateway_added",
            "p50_us": p50,
            "p99_us": p99,
            "aim_p99_us": AIM_ADDED_P99_US,
            "aim_met": p99 < AIM_ADDED_P99_US,
            "load_average_1m": m.load_average,
        }),
    ]
}

/// Too many non-2xx answers (or none at all) on the Sikka path.
pub fn errors(m: &Measured, max_share: f64) -> Vec<String> {
    [
        ("sikka_check_availability", &m.gateway),
        ("sikka_direct_appointments", &m.direct),
    ]
    .into_iter()
    .filter(|(_, o)| o.requests == 0 || o.non_2xx as f64 > max_share * o.requests as f64)
    .map(|(name, o)| format!("{name} ({} of {} non-2xx)", o.non_2xx, o.requests))
    .collect()
}
