//! Metrics an operator can alarm on, written as CloudWatch embedded-metric-format (EMF) lines
//! on stdout: on ECS the log driver delivers them to CloudWatch Logs, which turns them into
//! metrics, so emitting them costs no AWS call. Only the `aws` profile reports them.
//!
//! What is measured goes into the one process-wide [`Metrics`] ([`global`]): the receptionist
//! counts each tool call by tool and outcome with its latency, the Sikka transport each attempt
//! by code with its latency. Other parts register *sources* read at each report: a gauge (a
//! value now: practices loaded, audit backlog age) or a running total reported as its increase
//! since the last report (dead letters, credential cache hits).
//!
//! Every `interval` the [`Reporter`] takes the window's figures and writes one EMF document per
//! dimension set: `ToolCalls`, `ToolLatency` (up to 100 samples, for CloudWatch's own
//! percentiles) with `ToolLatencyP50`/`P99`/`Max` computed here over every call of the window
//! (from a log-scale histogram, within 10 %), per `Tool` and `Outcome`; `SikkaCalls` and
//! `SikkaLatency…` per `Code` (`ok`, Sikka's `APInnnn`, or `timeout`, `network`, `http_NNN`…);
//! and the sources. Every document carries the `Environment` dimension. We write the format
//! ourselves (a few lines of JSON): the crates that emit EMF for the `metrics` facade keep at
//! most 100 histogram values between flushes and report an error for each one beyond, which at
//! this gateway's call rates would drop most latencies.

use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::Duration,
};

use serde_json::{Map, Value, json};

use crate::clock::Clock;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "PracticeGateway";
/// Latency samples kept per dimension set and window (EMF's limit per value array).
const SAMPLES: usize = 100;
/// Histogram buckets: bucket `i` holds latencies below `GROWTH^(i+1)` microseconds.
const BUCKETS: usize = 128;
const GROWTH: f64 = 1.2;

/// The process's metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

/// A count and the latencies of one dimension set over one window.
#[derive(Clone)]
struct Timings {
    count: u64,
    buckets: Box<[u64; BUCKETS]>,
    max_us: u64,
    /// Every `stride`-th latency, at most [`SAMPLES`] (systematic sampling: when full, every
    /// other sample is dropped and the stride doubles).
    samples: Vec<u64>,
    stride: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            count: 0,
            buckets: Box::new([0; BUCKETS]),
            max_us: 0,
            samples: Vec::new(),
            stride: 1,
        }
    }
}

impl Timings {
    fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let bucket = ((us as f64).ln() / GROWTH.ln()).floor() as usize;
        self.buckets[bucket.min(BUCKETS - 1)] += 1;
        self.max_us = self.max_us.max(us);
        if self.count.is_multiple_of(self.stride) {
            if self.samples.len() == SAMPLES {
                let kept: Vec<u64> = self.samples.iter().copied().step_by(2).collect();
                self.samples = kept;
                self.stride *= 2;
            }
            if self.count.is_multiple_of(self.stride) {
                self.samples.push(us);
            }
        }
        self.count += 1;
    }

    /// The latency below which a share `q` of the window's calls fell, in milliseconds (the
    /// upper bound of its bucket, capped at the largest seen).
    fn quantile_ms(&self, q: f64) -> f64 {
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let upper = GROWTH.powi(i as i32 + 1);
                return upper.min(self.max_us as f64) / 1000.0;
            }
        }
        self.max_us as f64 / 1000.0
    }

    fn fields(&self, prefix: &str, count_name: &str, out: &mut Map<String, Value>) -> Vec<Value> {
        out.insert(count_name.into(), json!(self.count));
        let ms = |us: u64| us as f64 / 1000.0;
        out.insert(
            format!("{prefix}Latency"),
            Value::Array(self.samples.iter().map(|us| json!(ms(*us))).collect()),
        );
        out.insert(format!("{prefix}LatencyP50"), json!(self.quantile_ms(0.50)));
        out.insert(format!("{prefix}LatencyP99"), json!(self.quantile_ms(0.99)));
        out.insert(format!("{prefix}LatencyMax"), json!(ms(self.max_us)));
        let mut metrics = vec![json!({"Name": count_name, "Unit": "Count"})];
        for suffix in ["", "P50", "P99", "Max"] {
            metrics
                .push(json!({"Name": format!("{prefix}Latency{suffix}"), "Unit": "Milliseconds"}));
        }
        metrics
    }
}

type Source = Box<dyn Fn() -> f64 + Send + Sync>;

/// A value read at each report: a gauge, or a running total reported as its increase.
struct Registered {
    name: &'static str,
    unit: &'static str,
    read: Source,
    /// For a running total: what it was at the last report.
    last_total: Option<Mutex<f64>>,
}

/// What the gateway measured in the current window, and the sources it reads at each report.
#[derive(Default)]
pub struct Metrics {
    tools: Mutex<HashMap<(&'static str, &'static str), Timings>>,
    sikka: Mutex<HashMap<String, Timings>>,
    sources: Mutex<Vec<Registered>>,
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// One tool call answered: its tool, the outcome its audit entry records, how long it took.
    pub fn tool_call(&self, tool: &'static str, outcome: &'static str, latency: Duration) {
        lock(&self.tools)
            .entry((tool, outcome))
            .or_default()
            .record(latency);
    }

    /// One attempt at a Sikka call: `code` is `ok` or what went wrong.
    pub fn sikka_call(&self, code: &str, latency: Duration) {
        let mut sikka = lock(&self.sikka);
        match sikka.get_mut(code) {
            Some(timings) => timings.record(latency),
            None => sikka.entry(code.to_owned()).or_default().record(latency),
        }
    }

    /// Reports `read()` as it is at each report (`unit`: an EMF unit such as `Count`,
    /// `Seconds`). A source of the same name replaces the earlier one.
    pub fn gauge(&self, name: &'static str, unit: &'static str, read: Source) {
        self.register(name, unit, read, None);
    }

    /// Reports how much the running total `read()` grew since the last report.
    pub fn total(&self, name: &'static str, read: Source) {
        self.register(name, "Count", read, Some(Mutex::new(0.0)));
    }

    fn register(
        &self,
        name: &'static str,
        unit: &'static str,
        read: Source,
        last_total: Option<Mutex<f64>>,
    ) {
        let mut sources = lock(&self.sources);
        sources.retain(|s| s.name != name);
        sources.push(Registered {
            name,
            unit,
            read,
            last_total,
        });
    }

    /// The window's EMF documents (one JSON object per line), and a new window begun.
    pub fn report(&self, environment: &str, timestamp_ms: i64) -> Vec<String> {
        let tools = std::mem::take(&mut *lock(&self.tools));
        let sikka = std::mem::take(&mut *lock(&self.sikka));
        let mut lines = Vec::new();
        let mut sorted_tools: Vec<_> = tools.into_iter().collect();
        sorted_tools.sort_by_key(|((tool, outcome), _)| (*tool, *outcome));
        for ((tool, outcome), timings) in sorted_tools {
            let mut doc = Map::new();
            doc.insert("Tool".into(), json!(tool));
            doc.insert("Outcome".into(), json!(outcome));
            let metrics = timings.fields("Tool", "ToolCalls", &mut doc);
            lines.push(emf(
                environment,
                timestamp_ms,
                &["Tool", "Outcome"],
                metrics,
                doc,
            ));
        }
        let mut sorted_sikka: Vec<_> = sikka.into_iter().collect();
        sorted_sikka.sort_by(|a, b| a.0.cmp(&b.0));
        for (code, timings) in sorted_sikka {
            let mut doc = Map::new();
            doc.insert("Code".into(), json!(code));
            let metrics = timings.fields("Sikka", "SikkaCalls", &mut doc);
            lines.push(emf(environment, timestamp_ms, &["Code"], metrics, doc));
        }
        let sources = lock(&self.sources);
        if !sources.is_empty() {
            let mut doc = Map::new();
            let mut metrics = Vec::new();
            for source in sources.iter() {
                let now = (source.read)();
                let value = match &source.last_total {
                    Some(last) => {
                        let mut last = lock(last);
                        let grew = (now - *last).max(0.0);
                        *last = now;
                        grew
                    }
                    None => now,
                };
                doc.insert(source.name.into(), json!(value));
                metrics.push(json!({"Name": source.name, "Unit": source.unit}));
            }
            lines.push(emf(environment, timestamp_ms, &[], metrics, doc));
        }
        lines
    }
}

/// One EMF document: `fields` plus the `_aws` metadata naming `metrics` under `dimensions`
/// (and `Environment`).
fn emf(
    environment: &str,
    timestamp_ms: i64,
    dimensions: &[&str],
    metrics: Vec<Value>,
    mut fields: Map<String, Value>,
) -> String {
    let mut dims = vec!["Environment"];
    dims.extend_from_slice(dimensions);
    fields.insert("Environment".into(), json!(environment));
    fields.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dims],
                "Metrics": metrics,
            }],
        }),
    );
    Value::Object(fields).to_string()
}

/// Writes the [`global`] metrics every `interval` until stopped (and once more then).
pub struct Reporter {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Reporter {
    /// Starts reporting to `out` (stdout in the gateway) for the environment `environment`.
    pub fn spawn(
        environment: String,
        interval: Duration,
        clock: Clock,
        out: Arc<Mutex<dyn Write + Send>>,
    ) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                let last = tokio::select! {
                    _ = ticks.tick() => false,
                    _ = stopped.changed() => true,
                };
                let lines = global().report(&environment, clock.now().as_millisecond());
                let mut out = lock(&out);
                for line in lines {
                    // A line at a time, whole, so log lines never interleave inside one.
                    if let Err(error) = writeln!(out, "{line}") {
                        tracing::warn!(%error, "writing metrics failed");
                    }
                }
                let _ = out.flush();
                if last {
                    return;
                }
            }
        });
        Self { stop, task }
    }

    /// Reports the last window and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_reports_counts_percentiles_and_samples_then_starts_afresh() {
        let metrics = Metrics::default();
        for ms in 1..=1000 {
            metrics.tool_call("book_appointment", "success", Duration::from_millis(ms));
        }
        metrics.tool_call("book_appointment", "failed", Duration::from_millis(3));
        metrics.sikka_call("API2017", Duration::from_millis(40));
        let lines = metrics.report("dev", 1_700_000_000_000);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        let doc: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(doc["Outcome"], "success");
        assert_eq!(doc["ToolCalls"], 1000);
        let p99 = doc["ToolLatencyP99"].as_f64().unwrap();
        assert!((990.0..=990.0 * 1.2).contains(&p99), "p99 {p99}");
        let p50 = doc["ToolLatencyP50"].as_f64().unwrap();
        assert!((500.0..=500.0 * 1.2).contains(&p50), "p50 {p50}");
        assert_eq!(doc["ToolLatencyMax"], 1000.0);
        let samples = doc["ToolLatency"].as_array().unwrap();
        assert!(
            (50..=100).contains(&samples.len()),
            "{} samples",
            samples.len()
        );
        let spread = samples.last().unwrap().as_f64().unwrap() - samples[0].as_f64().unwrap();
        assert!(spread > 800.0, "samples cover the window, not its start");
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000_i64);
        assert_eq!(
            doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Environment", "Tool", "Outcome"])
        );
        let sikka: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(
            (sikka["Code"].as_str(), sikka["SikkaCalls"].as_u64()),
            (Some("API2017"), Some(1))
        );
        assert!(metrics.report("dev", 0).is_empty(), "a new window is empty");
    }

    #[test]
    fn totals_report_their_growth_and_gauges_their_value() {
        let metrics = Metrics::default();
        let total = Arc::new(std::sync::atomic::AtomicU64::new(5));
        let read = total.clone();
        metrics.total(
            "AuditDeadLetters",
            Box::new(move || read.load(std::sync::atomic::Ordering::Relaxed) as f64),
        );
        metrics.gauge("PracticesLoaded", "Count", Box::new(|| 7.0));
        let first: Value = serde_json::from_str(&metrics.report("dev", 0)[0]).unwrap();
        assert_eq!(
            (
                first["AuditDeadLetters"].as_f64(),
                first["PracticesLoaded"].as_f64()
            ),
            (Some(5.0), Some(7.0))
        );
        total.store(8, std::sync::atomic::Ordering::Relaxed);
        let second: Value = serde_json::from_str(&metrics.report("dev", 0)[0]).unwrap();
        assert_eq!(
            (
                second["AuditDeadLetters"].as_f64(),
                second["PracticesLoaded"].as_f64()
            ),
            (Some(3.0), Some(7.0))
        );
    }
}
