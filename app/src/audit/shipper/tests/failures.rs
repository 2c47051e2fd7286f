//! When the destination says no: rejected entries in the dead-letter file (logged by count and
//! seq only), retryable and fatal errors retried without losing or repeating a batch.

use super::*;

/// Everything a subscriber writes, for reading what was logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn rejections_are_a_head_and_a_tail_of_the_batch() {
    let none = Rejections::default();
    assert!(none.indexes(5).is_empty());
    let old = Rejections {
        too_old_end: Some(1),
        ..Rejections::default()
    };
    assert_eq!(old.indexes(5), [0, 1]);
    let expired_and_new = Rejections {
        too_old_end: Some(0),
        expired_end: Some(2),
        too_new_start: Some(4),
    };
    assert_eq!(expired_and_new.indexes(5), [0, 1, 2, 4]);
    let everything = Rejections {
        too_old_end: Some(9),
        ..Rejections::default()
    };
    assert_eq!(everything.indexes(3), [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_events_go_to_the_dead_letter_file_and_are_counted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=10).map(event)).await;
    let dest = Recording::default();
    dest.script.lock().unwrap().push_back(Ok(Rejections {
        too_old_end: Some(0),
        expired_end: Some(1),
        too_new_start: Some(8),
    }));
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 10).await;
    let lines = chain_lines(dir.path());
    let dead_path = dir.path().join(DEAD_LETTERS);
    let dead = std::fs::read_to_string(&dead_path).unwrap();
    let expected: Vec<&str> = [0, 1, 8, 9].iter().map(|&i| lines[i].as_str()).collect();
    assert_eq!(dead.lines().collect::<Vec<_>>(), expected);
    let mode = std::fs::metadata(&dead_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stats = shipper.stats();
    assert_eq!(
        (stats.dead_letters, stats.shipped, stats.backlog),
        (4, 6, 0)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn rejected_entries_are_logged_by_count_and_seq_never_their_content() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .without_time()
        .finish();
    // The shipper's task runs on this thread (current-thread runtime), so it logs here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let mut canary = event(1);
    canary.reason = Some("canary-5f3e patient Jane Roe".into());
    canary.patient_ids = vec![PatientId::new("canary-patient-77")];
    spool.record(canary).await.unwrap();
    let dest = Recording::default();
    dest.script
        .lock()
        .unwrap()
        .push_back(Err(DestinationError::Retryable("throttled".into())));
    dest.script.lock().unwrap().push_back(Ok(Rejections {
        too_old_end: Some(0),
        ..Rejections::default()
    }));
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 1).await;
    assert_eq!(shipper.stats().dead_letters, 1);
    let dead = std::fs::read_to_string(dir.path().join(DEAD_LETTERS)).unwrap();
    assert!(
        dead.contains("canary-5f3e"),
        "the dead letter keeps the line"
    );
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("rejected by the destination"), "{logged}");
    assert!(
        logged.contains("count=1") && logged.contains("first_seq=1"),
        "{logged}"
    );
    assert!(logged.contains("not accepted; retrying"), "{logged}");
    assert!(
        !logged.contains("canary"),
        "entry content reached the log: {logged}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_error_twice_then_success_ships_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=5).map(event)).await;
    let dest = Recording::default();
    for _ in 0..2 {
        dest.script
            .lock()
            .unwrap()
            .push_back(Err(DestinationError::Retryable("throttled".into())));
    }
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 5).await;
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    assert_eq!(dest.batches().len(), 1);
    assert_eq!(shipper.stats().retries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_keeps_the_batch_and_ships_it_once_the_cause_is_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=5).map(event)).await;
    let dest = Recording::default();
    dest.script
        .lock()
        .unwrap()
        .push_back(Err(DestinationError::Fatal("access denied".into())));
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 5).await;
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let stats = shipper.stats();
    assert_eq!(
        (stats.fatal_errors, stats.retries, stats.dead_letters),
        (1, 1, 0)
    );
}
