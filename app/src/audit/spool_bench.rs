//! A measurement, not a test: 64 concurrent tasks record entries for about 3 s through a spool on
//! the same disk as the build (under the cargo target directory), and the rate and the record
//! latencies are printed. Run it with
//! `cargo test -p gateway --lib audit::spool::bench -- --ignored --nocapture`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::audit::chain::tests::event;
use crate::audit::chain::verify_file;

const TASKS: u64 = 64;
const RUN: Duration = Duration::from_secs(3);

fn scratch_dir() -> tempfile::TempDir {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    fs::create_dir_all(&target).unwrap();
    tempfile::tempdir_in(target).unwrap()
}

fn quantile(sorted: &[u32], q: f64) -> f64 {
    f64::from(sorted[((sorted.len() - 1) as f64 * q) as usize]) / 1000.0
}

async fn run(label: &str, options: SpoolOptions) {
    let dir = scratch_dir();
    let path = dir.path().join("audit.jsonl");
    let spool = Arc::new(Spool::open(path.clone(), options).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (spool, stop) = (spool.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies_us = Vec::with_capacity(1 << 16);
                let mut n = t;
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    spool.record(event(n)).await.unwrap();
                    latencies_us.push(start.elapsed().as_micros() as u32);
                    n += TASKS;
                }
                latencies_us
            })
        })
        .collect();
    let start = Instant::now();
    tokio::time::sleep(RUN).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    spool.close().await;
    latencies.sort_unstable();
    let stats = spool.stats();
    let during: u64 = stats.sync_us_during_extension.iter().sum();
    println!(
        "{label}: {} entries in {elapsed:.2} s = {:.0} entries/s; record latency p50 {:.2} ms, \
         p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms\n  {} batches; batch sync p50 < {} us, \
         p99 < {} us, max {} us; {} preallocator pieces, {} batches extended the file \
         themselves; {during} syncs overlapped a piece: p50 < {} us, p99 < {} us",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.99),
        quantile(&latencies, 0.999),
        quantile(&latencies, 1.0),
        stats.batches,
        SpoolStats::quantile_us(&stats.sync_us, 0.5),
        SpoolStats::quantile_us(&stats.sync_us, 0.99),
        stats.sync_max_us,
        stats.extensions,
        stats.writer_extensions,
        SpoolStats::quantile_us(&stats.sync_us_during_extension, 0.5),
        SpoolStats::quantile_us(&stats.sync_us_during_extension, 0.99),
    );
    assert_eq!(verify_file(&path).unwrap().entries, stats.entries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
async fn record_throughput_and_latency() {
    let off = SpoolOptions {
        prealloc_ahead: 0,
        ..SpoolOptions::default()
    };
    run("preallocation off (every batch extends the file)", off).await;
    run("default options (preallocated)", SpoolOptions::default()).await;
}
