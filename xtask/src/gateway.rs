//! Running a gateway binary for a task: start it on a free port with the given environment, wait
//! for its `gateway ready` log line (with a timeout, no blind sleeps), and stop it with SIGTERM.
//! Its output is drained to a log file so a full pipe never stalls it.

use std::{
    fs::{self, File},
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// How long a gateway may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a gateway may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running gateway; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Gateway {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, as the ready line gave it.
    pub address: String,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Gateway {
    /// Starts `binary` (serving) with `PORT=0`, `HOST=127.0.0.1`, JSON logs and `env`, and waits for
    /// the ready line. `log` receives everything it prints.
    pub fn start(binary: &Path, env: &[(&str, String)], log: &Path) -> Result<Self> {
        if !binary.exists() {
            bail!(
                "gateway binary {} does not exist (was it built?)",
                binary.display()
            );
        }
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let sink = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let (lines, ready) = mpsc::channel();
        drain(
            child.stdout.take().expect("piped"),
            sink.try_clone()?,
            lines.clone(),
        );
        drain(child.stderr.take().expect("piped"), sink, lines);
        let mut gateway = Gateway {
            child: Some(child),
            address: String::new(),
            log: log.to_path_buf(),
        };
        gateway.address = gateway.wait_ready(&ready)?;
        Ok(gateway)
    }

    /// Reads output lines until the ready line; fails on timeout or if the gateway exits first.
    fn wait_ready(&mut self, lines: &mpsc::Receiver<String>) -> Result<String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(address) = ready_address(&line) {
                        return Ok(address);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "the gateway printed no ready line within {READY_TIMEOUT:?}; see {}",
                        self.log.display()
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().map(|c| c.wait()).transpose()?;
                    bail!(
                        "the gateway exited ({}) before it was ready:\n{}",
                        status.map_or("?".into(), |s| s.to_string()),
                        tail(&self.log)
                    )
                }
            }
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and waits for the exit (SIGKILL after a timeout). Returns its exit status.
    pub fn stop(mut self) -> Result<ExitStatus> {
        let mut child = self.child.take().expect("stopped once");
        terminate(&mut child)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = terminate(&mut child);
        }
    }
}

fn terminate(child: &mut Child) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait()? {
        return Ok(status);
    }
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .context("running kill")?;
    if !sent.success() {
        eprintln!("warning: kill -TERM {pid} failed; killing it");
        child.kill()?;
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!("warning: the gateway did not exit within {STOP_TIMEOUT:?} of SIGTERM; killing it");
    child.kill()?;
    Ok(child.wait()?)
}

/// Copies `from` line by line to `sink` and to `lines` (until the receiver is gone).
fn drain(from: impl Read + Send + 'static, mut sink: File, lines: mpsc::Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(sink, "{line}");
            let _ = lines.send(line);
        }
    });
}

/// The address in a `gateway ready` JSON log line: `..."message":"gateway ready"..."address":"http://.."`.
fn ready_address(line: &str) -> Option<String> {
    if !line.contains("\"message\":\"gateway ready\"") {
        return None;
    }
    let rest = &line[line.find("\"address\":\"")? + "\"address\":\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The last lines of a log file, for error messages.
fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Result<Self> {
        // Unique per process and call: the process id and a randomly keyed hash.
        let salt = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            prefix,
        );
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{salt:x}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A random-enough hex secret from the OS (`/dev/urandom`), for one run.
pub fn random_secret() -> Result<String> {
    let mut bytes = [0u8; 24];
    File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::ready_address;

    #[test]
    fn finds_the_address_in_the_ready_line() {
        let line = r#"{"timestamp":"t","level":"INFO","message":"gateway ready","address":"http://127.0.0.1:4123"}"#;
        assert_eq!(
            ready_address(line).as_deref(),
            Some("http://127.0.0.1:4123")
        );
        assert_eq!(
            ready_address(r#"{"message":"starting","address":"http://x"}"#),
            None
        );
    }
}
