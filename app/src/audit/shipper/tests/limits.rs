//! PutLogEvents' limits and the events' shape: at most 10,000 events and 1,048,576 counted
//! bytes a batch, under 24 hours, chronological timestamps, each line shipped once in order.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_hold_at_most_10000_events_and_every_line_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=25_000).map(event)).await;
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 25_000).await;
    let batches = dest.batches();
    assert!(batches.len() >= 3, "{} batches", batches.len());
    assert!(batches.iter().all(|b| b.len() <= batch::MAX_EVENTS));
    assert_eq!(dest.messages(), chain_lines(dir.path()));
    let stats = shipper.stats();
    assert_eq!((stats.shipped, stats.backlog), (25_000, 0));
    assert_eq!(stats.batches, batches.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_batch_exceeds_the_byte_limit() {
    let dir = tempfile::tempdir().unwrap();
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    record_all(&spool, (1..=1_500).map(big_event)).await;
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 1_500).await;
    let batches = dest.batches();
    assert!(batches[0][0].message.len() > 1_800, "entries of ~2 KB");
    assert!(batches.len() >= 3, "{} batches", batches.len());
    for batch in &batches {
        assert!(
            counted(batch) <= batch::MAX_BATCH_BYTES,
            "{} bytes",
            counted(batch)
        );
    }
    assert_eq!(dest.messages(), chain_lines(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_batch_spans_24_hours_and_timestamps_are_the_entries_times() {
    let dir = tempfile::tempdir().unwrap();
    // The same spool over a 25-hour spread: reopened with its clock moved on.
    for hours in [0, 13, 25] {
        let start = t0() + SignedDuration::from_hours(hours);
        let spool = spool(dir.path(), Clock::starting_at(start), 0);
        record_all(&spool, (1..=10).map(event)).await;
        spool.close().await;
    }
    let spool = spool(dir.path(), Clock::starting_at(t0()), 0);
    let dest = Recording::default();
    let shipper = start(&spool, &dest, options());
    shipped_up_to(&shipper, 30).await;
    let batches = dest.batches();
    assert!(batches.len() >= 2);
    for batch in &batches {
        let span = batch.last().unwrap().timestamp_ms - batch[0].timestamp_ms;
        assert!(span < batch::MAX_SPAN_MS, "a batch spans {span} ms");
    }
    for event in batches.iter().flatten() {
        let entry: AuditEntry = serde_json::from_str(&event.message).unwrap();
        assert_eq!(event.timestamp_ms, entry.time.as_millisecond());
    }
    assert_eq!(dest.messages().len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_earlier_than_its_predecessor_keeps_timestamps_chronological() {
    let dir = tempfile::tempdir().unwrap();
    // The spool never writes a time earlier than the one before; a hand-made file can.
    let times = [
        t0(),
        t0() - SignedDuration::from_secs(5),
        t0() + SignedDuration::from_secs(1),
    ];
    let mut prev = crate::audit::chain::GENESIS.to_owned();
    let mut text = String::new();
    for (i, time) in times.iter().enumerate() {
        let entry = AuditEntry::seal(uuid::Uuid::now_v7(), i as u64 + 1, *time, event(1), &prev);
        text.push_str(std::str::from_utf8(&entry.to_line()).unwrap());
        text.push('\n');
        prev = entry.hash;
    }
    std::fs::write(dir.path().join(segments::ACTIVE), &text).unwrap();
    let (_durable_tx, durable) = watch::channel(3);
    let dest = Recording::default();
    let shipper = Shipper::start(
        &dir.path().join(segments::ACTIVE),
        durable,
        dest.clone(),
        options(),
    )
    .unwrap();
    shipped_up_to(&shipper, 3).await;
    let events: Vec<LogEvent> = dest.batches().concat();
    let stamps: Vec<i64> = events.iter().map(|e| e.timestamp_ms).collect();
    let ms = t0().as_millisecond();
    assert_eq!(stamps, [ms, ms, ms + 1_000]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        events
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        lines
    );
}
