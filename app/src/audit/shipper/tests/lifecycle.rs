//! Across restarts, rotations and shutdown: the checkpoint, segments renamed while shipping,
//! drain and `AUDIT_ACK=cloudwatch`.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_checkpoint_in_the_same_stream() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments: the checkpointed file is renamed into a segment before the restart.
    let spool = spool(dir.path(), Clock::starting_at(t0()), 16 << 10);
    record_all(&spool, (1..=100).map(event)).await;
    let first = Recording::default();
    let shipper = start(&spool, &first, options());
    shipped_up_to(&shipper, 100).await;
    shipper.shutdown().await;
    let stream = shipper.stream().to_owned();
    drop(shipper);
    record_in(&spool, (101..=400).map(event), 20).await;
    assert!(
        segments::list(&dir.path().join(segments::ACTIVE))
            .unwrap()
            .len()
            >= 2
    );
    let second = Recording::default();
    let shipper = start(&spool, &second, options());
    shipped_up_to(&shipper, 400).await;
    assert_eq!(
        shipper.stream(),
        stream,
        "the stream is kept in the checkpoint"
    );
    let both: Vec<String> = first
        .messages()
        .into_iter()
        .chain(second.messages())
        .collect();
    assert_eq!(
        both,
        chain_lines(dir.path()),
        "nothing twice, nothing skipped"
    );
    assert_eq!(seq_of(&second.messages()[0]), 101);
    let names = second.batches.lock().unwrap();
    assert!(names.iter().all(|(s, _)| *s == stream));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_while_shipping_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 8 << 10);
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    record_in(&spool, (1..=3_000).map(event), 20).await;
    shipped_up_to(&shipper, 3_000).await;
    assert!(
        segments::list(&dir.path().join(segments::ACTIVE))
            .unwrap()
            .len()
            > 10
    );
    let seqs: Vec<u64> = dest.messages().iter().map(|m| seq_of(m)).collect();
    assert_eq!(seqs, (1..=3_000).collect::<Vec<_>>());
    assert_eq!(dest.messages(), chain_lines(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_returns_at_the_deadline_while_down_and_once_everything_is_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let dest = Recording::default();
    dest.down.store(true, Ordering::SeqCst);
    // A backoff far longer than the test: only drain's nudge makes it try again.
    let options = ShipperOptions {
        min_backoff: Duration::from_secs(3600),
        max_backoff: Duration::from_secs(3600),
        ..options()
    };
    let shipper = start(&spool, &dest, options);
    record_all(&spool, (1..=10).map(event)).await;
    spool.close().await;
    let soon = tokio::time::Instant::now() + Duration::from_millis(200);
    assert_eq!(
        shipper.drain(soon).await,
        Err(DrainIncomplete {
            shipped: 0,
            target: 10
        })
    );
    let stats = shipper.stats();
    assert_eq!(stats.backlog, 10);
    assert!(stats.retries >= 1);
    assert!(stats.oldest_unshipped_age.is_some());
    dest.down.store(false, Ordering::SeqCst);
    let later = tokio::time::Instant::now() + Duration::from_secs(30);
    assert_eq!(shipper.drain(later).await, Ok(10));
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let stats = shipper.stats();
    assert_eq!((stats.backlog, stats.oldest_unshipped_age), (0, None));
    assert!(stats.lag_quantile(0.99) >= stats.lag_quantile(0.5));
    assert!(stats.lag_quantile(0.5) > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_spool_answers_only_once_the_destination_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let dest = Recording::default();
    dest.down.store(true, Ordering::SeqCst);
    let shipper = start(&spool, &dest, options());
    let acked = Arc::new(AckedSpool::new(
        spool.clone(),
        shipper.shipped(),
        Duration::from_secs(30),
    ));
    let record = tokio::spawn({
        let acked = acked.clone();
        async move { acked.record(event(1)).await }
    });
    let mut durable = spool.durable();
    durable.wait_for(|&d| d >= 1).await.unwrap();
    // Durable locally, refused by the destination: the caller is still waiting.
    let mut retried = false;
    for _ in 0..1000 {
        if shipper.stats().retries >= 2 {
            retried = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(retried, "the shipper tried the destination");
    assert!(!record.is_finished());
    dest.down.store(false, Ordering::SeqCst);
    let receipt = record.await.unwrap().unwrap();
    assert_eq!(receipt.seq, 1);
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let never = watch::Sender::new(0);
    let short = AckedSpool::new(spool.clone(), never.subscribe(), Duration::from_millis(50));
    assert!(matches!(
        short.record(event(2)).await,
        Err(crate::audit::AuditError::Timeout(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_stream_is_used_and_kept_in_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=3).map(event)).await;
    let dest = Recording::default();
    let options = ShipperOptions {
        stream: Some("task-7f3a".into()),
        ..options()
    };
    let shipper = start(&spool, &dest, options);
    shipped_up_to(&shipper, 3).await;
    assert_eq!(shipper.stream(), "task-7f3a");
    assert!(
        dest.batches
            .lock()
            .unwrap()
            .iter()
            .all(|(s, _)| s == "task-7f3a")
    );
    let saved = Checkpoint::load(dir.path()).unwrap().unwrap();
    assert_eq!((saved.stream.as_str(), saved.shipped), ("task-7f3a", 3));
}
