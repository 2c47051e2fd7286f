//! Driving wrk: installing it if missing, writing the Lua scripts (static or cycling signed
//! requests, and a `done()` that prints one machine-readable line), and reading that line back.

use std::{fmt::Write as _, path::Path};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use super::requests::{Signed, Signer};

/// The line our `done()` prints, so nothing depends on wrk's human-readable layout.
const MARKER: &str = "XTASK_WRK";

const DONE: &str = r#"
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "XTASK_WRK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d timeout=%d status=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, e.status))
end
"#;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub requests: u64,
    pub duration_us: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Socket errors: connect, read, write, timeout.
    pub socket_errors: u64,
    /// Responses with status >= 400 (wrk's "Non-2xx or 3xx responses").
    pub non_2xx: u64,
}

impl Outcome {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }
}

/// Installs wrk with apt-get when it is not on PATH.
pub fn ensure_installed(sh: &Shell) -> Result<()> {
    if on_path("wrk") {
        return Ok(());
    }
    eprintln!("wrk is not on PATH; installing it with apt-get");
    let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
    if cmd!(sh, "apt-get install -y -q wrk").run().is_err() {
        cmd!(sh, "apt-get update -q").run()?;
        cmd!(sh, "apt-get install -y -q wrk")
            .run()
            .context("apt-get install wrk")?;
    }
    Ok(())
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A script that only reports.
pub fn plain_script() -> String {
    DONE.to_owned()
}

/// A script sending one signed POST over and over.
pub fn static_post_script(signer: &Signer, signed: &Signed) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"x-timestamp\"] = \"{}\"\nwrk.headers[\"x-signature\"] = \"{}\"\n\
         wrk.headers[\"x-vapi-secret\"] = \"{}\"\n{DONE}",
        long_string(&signed.body),
        signer.timestamp,
        signed.signature,
        signer.secret
    )
}

/// A script whose `request()` cycles through pre-signed POSTs to `path`; each wrk thread starts
/// at its own offset so threads do not send the same toolCallId at the same moment.
pub fn cycling_post_script(path: &str, signer: &Signer, all: &[Signed], threads: u32) -> String {
    let mut lua = format!(
        "local path = \"{path}\"\nlocal timestamp = \"{}\"\nlocal secret = \"{}\"\nlocal signed = {{\n",
        signer.timestamp, signer.secret
    );
    for s in all {
        let _ = writeln!(lua, "  {{\"{}\", {}}},", s.signature, long_string(&s.body));
    }
    let _ = write!(
        lua,
        r#"}}
local threads = {threads}
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end
local formatted = {{}}
local i = 0
function init(args)
  for k, s in ipairs(signed) do
    local headers = {{["Content-Type"] = "application/json", ["x-timestamp"] = timestamp, ["x-signature"] = s[1], ["x-vapi-secret"] = secret}}
    formatted[k] = wrk.format("POST", path, headers, s[2])
  end
  i = (thread_id or 0) * math.floor(#formatted / threads)
end
function request()
  i = i % #formatted + 1
  return formatted[i]
end
{DONE}"#
    );
    lua
}

/// A script sending the URL's GET over and over with `headers` added.
pub fn get_script(headers: &[(&str, &str)]) -> String {
    let mut lua = String::new();
    for (name, value) in headers {
        let _ = writeln!(lua, "wrk.headers[\"{name}\"] = {}", long_string(value));
    }
    lua + DONE
}

/// `script` paced to `per_second` requests per wrk thread: wrk's `delay()` (called by each
/// connection before each request) hands out send times `1/per_second` apart from a per-thread
/// schedule on the monotonic clock (LuaJIT's FFI), so the offered rate holds whatever the
/// latency, as long as the connections are enough to carry it. Slots missed while every
/// connection was busy are not made up later: the schedule restarts from now. wrk measures each
/// request from its send, not from its slot.
pub fn paced(script: &str, per_second: f64) -> String {
    format!(
        r#"{script}
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} xtask_timespec;
int clock_gettime(int clock_id, xtask_timespec *tp);
]]
local clock = ffi.new("xtask_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end
local period_ms = {period_ms}
local next_ms = nil
function delay()
  local now = now_ms()
  if next_ms == nil or next_ms < now then next_ms = now end
  local due = next_ms
  next_ms = next_ms + period_ms
  return math.floor(due - now)
end
"#,
        period_ms = 1000.0 / per_second
    )
}

/// A Lua long string; the bodies are JSON and never contain the closing bracket sequence.
fn long_string(text: &str) -> String {
    assert!(
        !text.contains("]==]"),
        "body contains the Lua long-string terminator"
    );
    format!("[==[{text}]==]")
}

/// Runs wrk with `script` against `url`, echoes its report, and returns what it measured.
pub fn run(
    sh: &Shell,
    url: &str,
    script: &Path,
    threads: u32,
    connections: u32,
    seconds: u32,
) -> Result<Outcome> {
    let (t, c, d) = (
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{seconds}s"),
    );
    let output = cmd!(sh, "wrk {t} {c} {d} --latency -s {script} {url}").read()?;
    eprintln!("{output}");
    parse(&output)
}

fn parse(output: &str) -> Result<Outcome> {
    let Some(line) = output.lines().find(|l| l.starts_with(MARKER)) else {
        bail!("wrk printed no {MARKER} line (did the Lua script fail?)");
    };
    let mut out = Outcome::default();
    for pair in line.split_whitespace().skip(1) {
        let (key, value) = pair
            .split_once('=')
            .with_context(|| format!("bad field {pair:?} in {line:?}"))?;
        let value: u64 = value
            .parse()
            .with_context(|| format!("bad number in {pair:?}"))?;
        match key {
            "requests" => out.requests = value,
            "duration_us" => out.duration_us = value,
            "p50_us" => out.p50_us = value,
            "p99_us" => out.p99_us = value,
            "max_us" => out.max_us = value,
            "connect" | "read" | "write" | "timeout" => out.socket_errors += value,
            "status" => out.non_2xx = value,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_marker_line() {
        let text = "Running 10s test\nXTASK_WRK requests=1000 duration_us=2000000 p50_us=500 p99_us=2500 \
                    max_us=9000 connect=0 read=1 write=0 timeout=2 status=7\n";
        let out = parse(text).unwrap();
        assert_eq!(
            (
                out.requests,
                out.p50_us,
                out.p99_us,
                out.socket_errors,
                out.non_2xx
            ),
            (1000, 500, 2500, 3, 7)
        );
        assert_eq!(out.requests_per_second(), 500.0);
        assert!(parse("no marker").is_err());
    }
}
