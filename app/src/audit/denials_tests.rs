//! Tests of the denial aggregator: a flood writes a bounded number of entries, and nothing is
//! lost from the count.

use std::sync::Arc;

use super::*;
use crate::audit::AuditActor;

use crate::audit::memory::MemoryAudit as Memory;

fn denial(ip: &str) -> AuditEvent {
    AuditEvent {
        action: AuditAction::Authenticate,
        outcome: AuditOutcome::Denied,
        resource: "/vapi/tools/list_providers".into(),
        account_id: None,
        actor: AuditActor {
            kind: "vapi".into(),
            ..AuditActor::default()
        },
        patient_ids: Vec::new(),
        request_id: Some("req".into()),
        source_ip: Some(ip.into()),
        reason: Some("signature mismatch".into()),
    }
}

/// How many denials the entries stand for: one each, or the count of an aggregate.
fn represented(events: &[AuditEvent]) -> u64 {
    events
        .iter()
        .filter(|e| is_denied_authentication(e))
        .map(|e| {
            let reason = e.reason.as_deref().unwrap_or_default();
            match reason.strip_prefix("count: ") {
                Some(rest) => rest.split(' ').next().unwrap().parse().unwrap(),
                None => 1,
            }
        })
        .sum()
}

#[tokio::test]
async fn a_flood_from_one_source_writes_a_bounded_number_of_entries_and_keeps_the_count() {
    let memory = Arc::new(Memory::default());
    let denials = Denials::new(memory.clone());
    for _ in 0..1000 {
        denials.record(denial("203.0.113.9")).await.unwrap();
    }
    // Other events are never held back.
    let mut read = denial("203.0.113.9");
    read.action = AuditAction::Read;
    read.outcome = AuditOutcome::Success;
    denials.record(read).await.unwrap();
    denials.close().await;
    let events = memory.events();
    assert!(
        events.len() <= WRITTEN_PER_SECOND as usize * 3 + 4,
        "{} entries",
        events.len()
    );
    assert_eq!(represented(&events), 1000);
    assert!(events.iter().any(|e| !is_denied_authentication(e)));
    let aggregate = events
        .iter()
        .find(|e| {
            e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("count: "))
        })
        .expect("an aggregate entry");
    assert_eq!(aggregate.source_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(aggregate.outcome, AuditOutcome::Denied);
}

#[tokio::test]
async fn spoofed_sources_share_one_count_once_the_global_allowance_is_spent() {
    let memory = Arc::new(Memory::default());
    let denials = Denials::new(memory.clone());
    for i in 0..5000u32 {
        let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
        denials.record(denial(&ip)).await.unwrap();
    }
    denials.close().await;
    let events = memory.events();
    assert!(
        events.len() <= WRITTEN_PER_SECOND_IN_ALL as usize * 3 + 8,
        "{} entries",
        events.len()
    );
    assert_eq!(represented(&events), 5000);
}
