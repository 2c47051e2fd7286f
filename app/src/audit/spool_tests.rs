//! Tests of the spool as a compliance reviewer would probe it: nothing acked is lost, the chain
//! survives restarts, crashes and I/O failures, and group commit really groups.

use std::sync::Arc;

use super::faults::Fault;
use super::*;
use crate::audit::chain::tests::event;
use crate::audit::chain::{VerifySummary, verify_file};
use crate::pms::PatientId;

fn spool_at(path: &Path) -> Spool {
    Spool::open(path.to_path_buf(), SpoolOptions::default()).unwrap()
}

/// `n` concurrent `record` calls, one task each.
async fn record_many(spool: &Arc<Spool>, n: u64) -> Vec<Result<AuditReceipt, AuditError>> {
    let tasks: Vec<_> = (1..=n)
        .map(|i| {
            let spool = spool.clone();
            tokio::spawn(async move { spool.record(event(i)).await })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

fn seqs(results: &[Result<AuditReceipt, AuditError>]) -> Vec<u64> {
    let mut seqs: Vec<u64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|r| r.seq)
        .collect();
    seqs.sort_unstable();
    seqs
}

/// `bytes` is `prefix` followed by nothing but NULs.
fn assert_only_padding_after(bytes: &[u8], prefix: &[u8]) {
    assert!(
        bytes.starts_with(prefix),
        "the chain before the logical end changed"
    );
    assert!(
        bytes[prefix.len()..].iter().all(|&b| b == 0),
        "non-NUL bytes after the logical end"
    );
}

fn entries(path: &Path) -> u64 {
    verify_file(path).unwrap().entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_all_land_contiguous_and_chained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Arc::new(spool_at(&path));
    let results = record_many(&spool, 2000).await;
    assert_eq!(seqs(&results), (1..=2000).collect::<Vec<_>>());
    let ids: std::collections::HashSet<_> =
        results.iter().map(|r| r.as_ref().unwrap().id).collect();
    assert_eq!(ids.len(), 2000);
    // Acked means on disk: the file verifies before close.
    assert_eq!(entries(&path), 2000);
    spool.close().await;
    assert_eq!(spool.stats().entries, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_uses_fewer_syncs_than_records() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Arc::new(spool_at(&dir.path().join("audit.jsonl")));
    let n = 1000;
    assert!(record_many(&spool, n).await.iter().all(Result::is_ok));
    let stats = spool.stats();
    assert_eq!(stats.entries, n);
    assert_eq!(stats.fsyncs, stats.batches);
    assert!(stats.fsyncs < n, "{n} records took {} fsyncs", stats.fsyncs);
}

#[tokio::test]
async fn reopening_continues_the_chain_in_new_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("var/audit/spool.jsonl");
    let spool = spool_at(&path);
    for i in 1..=3 {
        spool.record(event(i)).await.unwrap();
    }
    spool.close().await;

    let spool = spool_at(&path);
    assert_eq!(spool.record(event(4)).await.unwrap().seq, 4);
    assert_eq!(spool.record(event(5)).await.unwrap().seq, 5);
    spool.close().await;
    assert_eq!(entries(&path), 5);
}

#[cfg(unix)]
#[tokio::test]
async fn the_spool_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    spool_at(&path).close().await;
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn a_second_writer_is_refused_while_the_spool_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = spool_at(&path);
    assert!(matches!(
        Spool::open(path.clone(), SpoolOptions::default()),
        Err(AuditError::Io(_))
    ));
    spool.close().await;
    spool_at(&path).close().await;
}

#[tokio::test]
async fn a_torn_last_line_from_a_crash_is_cut_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = spool_at(&path);
    for i in 1..=3 {
        spool.record(event(i)).await.unwrap();
    }
    spool.close().await;
    let good = fs::read(&path).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(br#"{"id":"0190b3a4-0000-7000-8000-00000000000"#);
    fs::write(&path, &torn).unwrap();

    let spool = spool_at(&path);
    // The torn bytes are zeroed in place (the preallocator may be padding the file meanwhile).
    assert_only_padding_after(&fs::read(&path).unwrap(), &good);
    assert_eq!(spool.record(event(4)).await.unwrap().seq, 4);
    spool.close().await;
    assert_eq!(entries(&path), 4);
}

#[tokio::test]
async fn a_file_holding_only_a_torn_line_starts_a_new_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    fs::write(&path, b"{\"id\":\"01").unwrap();
    let spool = spool_at(&path);
    assert_eq!(spool.record(event(1)).await.unwrap().seq, 1);
    spool.close().await;
    assert_eq!(entries(&path), 1);
}

#[tokio::test]
async fn a_damaged_last_entry_refuses_the_open_instead_of_guessing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = spool_at(&path);
    for i in 1..=2 {
        spool.record(event(i)).await.unwrap();
    }
    spool.close().await;
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen("\"seq\":2", "\"seq\":9", 1)).unwrap();
    match Spool::open(path.clone(), SpoolOptions::default()) {
        Err(AuditError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a spool whose last entry is damaged"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_what_was_queued_and_refuses_what_comes_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Arc::new(spool_at(&path));
    let racing = {
        let spool = spool.clone();
        tokio::spawn(async move { record_many(&spool, 500).await })
    };
    tokio::task::yield_now().await;
    spool.close().await;
    let results = racing.await.unwrap();
    // Every acked record is in the file, and the file holds nothing else.
    let acked = seqs(&results);
    assert_eq!(acked, (1..=acked.len() as u64).collect::<Vec<_>>());
    assert_eq!(entries(&path), acked.len() as u64);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(AuditError::Closed)))
    );

    assert!(matches!(
        spool.record(event(1)).await,
        Err(AuditError::Closed)
    ));
    spool.close().await; // closing twice is harmless
    // The file lock is released: the next process can take over at once.
    let next = spool_at(&path);
    assert_eq!(
        next.record(event(1)).await.unwrap().seq,
        acked.len() as u64 + 1
    );
    next.close().await;
}

async fn failing_batch_leaves_a_verifiable_chain(fault: Fault) {
    failing_batch_leaves_a_verifiable_chain_with(fault, SpoolOptions::default()).await;
}

async fn failing_batch_leaves_a_verifiable_chain_with(fault: Fault, options: SpoolOptions) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Arc::new(Spool::open(path.clone(), options).unwrap());
    for i in 1..=3 {
        spool.record(event(i)).await.unwrap();
    }
    spool.inject_fault(fault);
    let failed = spool.record(event(4)).await;
    assert!(matches!(failed, Err(AuditError::Io(_))), "{failed:?}");
    assert_eq!(entries(&path), 3);

    // The chain carries on from the last good entry, without a gap.
    spool.inject_fault(fault);
    let results = record_many(&spool, 200).await;
    let errors = results.iter().filter(|r| r.is_err()).count();
    assert!(errors >= 1);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(AuditError::Io(_))))
    );
    let acked = seqs(&results);
    assert_eq!(acked, (4..4 + acked.len() as u64).collect::<Vec<_>>());
    spool.close().await;
    let summary: VerifySummary = verify_file(&path).unwrap();
    assert_eq!(summary.entries, 3 + acked.len() as u64);
    assert_eq!(spool.stats().failed_batches, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_write_fails_its_batch_and_is_cut_back() {
    failing_batch_leaves_a_verifiable_chain(Fault::TornWrite).await;
}

/// After a failed sync nothing is acknowledged any more, and the spool says why it is not ready;
/// what was acked before stays a verifiable chain.
async fn a_failed_sync_poisons_the_spool_with(fault: Fault, options: SpoolOptions) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Arc::new(Spool::open(path.clone(), options).unwrap());
    for i in 1..=3 {
        spool.record(event(i)).await.unwrap();
    }
    assert_eq!(spool.ready(), Ok(()));
    spool.inject_fault(fault);
    if fault == Fault::Sync {
        let failed = spool.record(event(4)).await;
        assert!(matches!(failed, Err(AuditError::Io(_))), "{failed:?}");
    } else {
        // The preallocator fails on its own thread, while it keeps space ready ahead.
        let mut n = 4;
        while spool.ready().is_ok() {
            assert!(
                n < 100_000,
                "the preallocator's failed sync was never noticed"
            );
            let _ = spool.record(event(n)).await;
            n += 1;
        }
    }
    let why = spool.ready().unwrap_err();
    assert!(why.contains("failed sync"), "{why}");
    let results = record_many(&spool, 50).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(AuditError::Poisoned(_)))),
        "{results:?}"
    );
    let acked = spool.stats().entries;
    spool.close().await;
    assert_eq!(entries(&path), acked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_sync_poisons_the_spool() {
    a_failed_sync_poisons_the_spool_with(Fault::Sync, SpoolOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_preallocation_sync_poisons_the_spool() {
    a_failed_sync_poisons_the_spool_with(Fault::PreallocSync, small_chunks()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_disk_answers_the_caller_at_the_audit_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let options = SpoolOptions {
        write_timeout: std::time::Duration::from_millis(50),
        ..SpoolOptions::default()
    };
    let path = dir.path().join("audit.jsonl");
    let spool = Spool::open(path.clone(), options).unwrap();
    spool.inject_fault(Fault::SlowSync);
    let started = std::time::Instant::now();
    let late = spool.record(event(1)).await;
    assert!(matches!(late, Err(AuditError::Timeout(_))), "{late:?}");
    assert!(started.elapsed() < std::time::Duration::from_millis(250));
    // The disk is not broken, only slow: the entry lands, just too late to vouch for an answer.
    assert_eq!(spool.ready(), Ok(()));
    spool.close().await;
    assert_eq!(entries(&path), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spool_rotates_by_size_and_the_chain_runs_on_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let options = SpoolOptions {
        segment_bytes: 8 << 10,
        ..small_chunks()
    };
    let spool = Spool::open(path.clone(), options.clone()).unwrap();
    for i in 1..=200 {
        spool.record(event(i)).await.unwrap();
    }
    spool.close().await;
    let numbered = segments::list(&path).unwrap();
    assert!(numbered.len() >= 3, "{numbered:?}");
    for (_, segment) in &numbered {
        let len = fs::metadata(segment).unwrap().len();
        assert!(len < (8 << 10) + 4096, "segment of {len} bytes");
        assert!(
            !fs::read(segment).unwrap().contains(&0),
            "a rotated segment has no padding"
        );
    }
    let all = || segments::verify_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(all().entries, 200);
    // A restart right after a rotation (an empty active file) continues from the last segment.
    fs::rename(
        &path,
        segments::numbered(&path, numbered.last().unwrap().0 + 1),
    )
    .unwrap();
    let spool = Spool::open(path.clone(), options).unwrap();
    assert_eq!(spool.record(event(201)).await.unwrap().seq, 201);
    spool.close().await;
    assert_eq!(all().entries, 201);
}

#[tokio::test]
async fn readiness_fails_below_the_free_space_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let free = free_bytes(dir.path()).unwrap();
    for (min_free_bytes, ready) in [
        (1 << 20, true),
        (free.saturating_mul(4).max(1 << 40), false),
    ] {
        let options = SpoolOptions {
            min_free_bytes,
            ..SpoolOptions::default()
        };
        let spool = Spool::open(dir.path().join("audit.jsonl"), options).unwrap();
        assert_eq!(spool.ready().is_ok(), ready, "{:?}", spool.ready());
        // Entries are still written below the watermark.
        spool.record(event(1)).await.unwrap();
        spool.close().await;
    }
}

#[tokio::test]
async fn attacker_sized_fields_are_cut_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = spool_at(&path);
    let mut huge = event(1);
    huge.resource = format!("/vapi/tools/{}", "x".repeat(100_000));
    huge.request_id = Some("r".repeat(100_000));
    huge.actor.call_id = Some("é".repeat(100_000));
    huge.patient_ids = (0..10_000)
        .map(|i| PatientId::new(format!("p{i}")))
        .collect();
    spool.record(huge).await.unwrap();
    spool.close().await;
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.len() < 8 << 10, "an entry of {} bytes", text.len());
    let entry: crate::audit::AuditEntry = serde_json::from_str(text.trim_end()).unwrap();
    assert!(entry.event.resource.starts_with("/vapi/tools/xxx"));
    assert!(entry.event.resource.ends_with('…'));
    assert_eq!(entry.event.actor.call_id.unwrap().chars().count(), 201);
    assert_eq!(entries(&path), 1);
}

/// Small preallocation pieces, so a few hundred entries cross several extensions.
fn small_chunks() -> SpoolOptions {
    SpoolOptions {
        prealloc_ahead: 16 << 10,
        prealloc_step: 8 << 10,
        prealloc_piece: 4 << 10,
        ..SpoolOptions::default()
    }
}

/// Waits until the preallocator has padded the file beyond its data.
async fn wait_for_padding(spool: &Spool, path: &Path) -> Vec<u8> {
    for _ in 0..500 {
        let bytes = fs::read(path).unwrap();
        if spool.stats().extensions > 0 && bytes.last() == Some(&0) {
            return bytes;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the preallocator never padded the file");
}

fn logical_part(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &bytes[..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_spool_with_padding_reopens_and_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Spool::open(path.clone(), small_chunks()).unwrap();
    for i in 1..=5 {
        spool.record(event(i)).await.unwrap();
    }
    // A crash: the file as it is while the spool is open, padding and all.
    let crashed = wait_for_padding(&spool, &path).await;
    spool.close().await;
    let copy = dir.path().join("crashed.jsonl");
    fs::write(&copy, &crashed).unwrap();
    assert_eq!(entries(&copy), 5, "the verifier accepts the padding");

    let spool = Spool::open(copy.clone(), small_chunks()).unwrap();
    assert_eq!(spool.record(event(6)).await.unwrap().seq, 6);
    assert_eq!(spool.record(event(7)).await.unwrap().seq, 7);
    spool.close().await;
    let after = fs::read(&copy).unwrap();
    assert!(after.starts_with(logical_part(&crashed)));
    assert_eq!(entries(&copy), 7);
}

#[tokio::test]
async fn a_torn_line_followed_by_padding_is_zeroed_and_the_chain_continues() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = spool_at(&path);
    for i in 1..=3 {
        spool.record(event(i)).await.unwrap();
    }
    spool.close().await;
    let good = fs::read(&path).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(br#"{"id":"0190b3a4-0000-7000-8000-00000000000"#);
    torn.resize(torn.len() + 10_000, 0);
    fs::write(&path, &torn).unwrap();
    assert!(verify_file(&path).is_err());

    let spool = spool_at(&path);
    assert_only_padding_after(&fs::read(&path).unwrap(), &good);
    assert_eq!(spool.record(event(4)).await.unwrap().seq, 4);
    spool.close().await;
    assert_eq!(entries(&path), 4);
}

#[tokio::test]
async fn a_hole_in_a_batch_persisted_out_of_order_is_cut_at_the_hole() {
    // Blocks overwritten in place reach the disk in any order: a crash mid-batch can leave a
    // page of zeros with a later page of that batch (complete lines) after it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = spool_at(&path);
    for i in 1..=6 {
        spool.record(event(i)).await.unwrap();
    }
    spool.close().await;
    let text = fs::read(&path).unwrap();
    let cuts: Vec<usize> = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let good = &text[..cuts[2]];
    let mut holed = text.clone();
    // Lines 4 and part of 5 lost; the rest of 5 and line 6 made it.
    let hole_end = cuts[3] + 20;
    holed[cuts[2]..hole_end].fill(0);
    holed.resize(holed.len() + 5000, 0);
    fs::write(&path, &holed).unwrap();

    let spool = spool_at(&path);
    assert_only_padding_after(&fs::read(&path).unwrap(), good);
    assert_eq!(spool.record(event(4)).await.unwrap().seq, 4);
    spool.close().await;
    assert_eq!(entries(&path), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_cuts_the_padding_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Spool::open(path.clone(), small_chunks()).unwrap();
    for i in 1..=3 {
        spool.record(event(i)).await.unwrap();
    }
    let padded = wait_for_padding(&spool, &path).await;
    spool.close().await;
    let closed = fs::read(&path).unwrap();
    assert_eq!(closed, logical_part(&padded));
    assert!(!closed.contains(&0));
    assert_eq!(closed.last(), Some(&b'\n'));
    assert_eq!(entries(&path), 3);

    // Dropping every handle without `close` cuts it too.
    let spool = Spool::open(path.clone(), small_chunks()).unwrap();
    spool.record(event(4)).await.unwrap();
    wait_for_padding(&spool, &path).await;
    drop(spool);
    for _ in 0..500 {
        if fs::read(&path).unwrap().last() == Some(&b'\n') {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!fs::read(&path).unwrap().contains(&0));
    assert_eq!(entries(&path), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_keeps_writing_across_many_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let spool = Arc::new(Spool::open(path.clone(), small_chunks()).unwrap());
    let mut acked = Vec::new();
    for _ in 0..5 {
        acked.extend(record_many(&spool, 300).await);
    }
    assert_eq!(seqs(&acked), (1..=1500).collect::<Vec<_>>());
    // Acked means on disk, padding or not.
    assert_eq!(entries(&path), 1500);
    let stats = spool.stats();
    // ~400 KB of entries in 4 KiB pieces.
    assert!(stats.extensions >= 20, "{stats:?}");
    assert_eq!(stats.fsyncs, stats.sync_us.iter().sum::<u64>());
    spool.close().await;
    assert_eq!(entries(&path), 1500);
    assert!(!fs::read(&path).unwrap().contains(&0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_preallocation_every_batch_extends_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let options = SpoolOptions {
        prealloc_ahead: 0,
        ..SpoolOptions::default()
    };
    let spool = Arc::new(Spool::open(path.clone(), options).unwrap());
    assert!(record_many(&spool, 300).await.iter().all(Result::is_ok));
    let stats = spool.stats();
    assert_eq!(stats.extensions, 0);
    assert_eq!(stats.writer_extensions, stats.batches);
    assert!(!fs::read(&path).unwrap().contains(&0));
    spool.close().await;
    assert_eq!(entries(&path), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_batches_are_zeroed_with_small_extensions_and_without_preallocation() {
    for options in [
        small_chunks(),
        SpoolOptions {
            prealloc_ahead: 0,
            ..SpoolOptions::default()
        },
    ] {
        failing_batch_leaves_a_verifiable_chain_with(Fault::TornWrite, options.clone()).await;
        a_failed_sync_poisons_the_spool_with(Fault::Sync, options.clone()).await;
    }
}
