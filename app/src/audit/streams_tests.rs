//! The tolerant stream check: what CloudWatch may hold after a retried batch, a lost event or an
//! edit, and what an operator must be told about each.

use jiff::Timestamp;
use uuid::Uuid;

use super::*;
use crate::audit::chain::{AuditEntry, GENESIS, tests::event};

/// `n` chained entries as log event messages (spool lines without newline).
fn messages(n: u64) -> Vec<Vec<u8>> {
    let mut prev = GENESIS.to_owned();
    (1..=n)
        .map(|seq| {
            let time = Timestamp::from_second(1_750_000_000 + seq as i64).unwrap();
            let entry = AuditEntry::seal(Uuid::now_v7(), seq, time, event(seq), &prev);
            prev = entry.hash.clone();
            entry.to_line()
        })
        .collect()
}

fn check(messages: &[Vec<u8>]) -> StreamReport {
    StreamVerifier::check(messages.iter().map(Vec::as_slice))
}

#[test]
fn a_clean_stream_is_intact() {
    let report = check(&messages(6));
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.entries, 6);
    assert_eq!(report.events, 6);
    assert!(report.problems.is_empty());
}

#[test]
fn a_removed_event_is_a_gap_and_the_rest_still_checks() {
    let mut stream = messages(8);
    stream.remove(3); // seq 4
    let report = check(&stream);
    assert!(!report.intact());
    assert_eq!(report.problems, vec![StreamProblem::Gap { from: 4, to: 4 }]);
    assert_eq!(report.entries, 7);
    assert_eq!(report.problems[0].to_string(), "gap: entry 4 is missing");
}

#[test]
fn a_missing_start_is_a_gap() {
    let stream = messages(5);
    let report = check(&stream[2..]);
    assert_eq!(report.problems, vec![StreamProblem::Gap { from: 1, to: 2 }]);
}

#[test]
fn a_batch_that_landed_twice_is_reported_and_tolerated() {
    let stream = messages(6);
    let mut landed: Vec<Vec<u8>> = stream[..4].to_vec();
    landed.extend_from_slice(&stream[2..4]); // the retried batch: 3 and 4 again
    landed.extend_from_slice(&stream[4..]);
    let report = check(&landed);
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.entries, 6);
    assert_eq!(report.duplicates(), 2);
    assert_eq!(
        report.problems,
        vec![
            StreamProblem::Duplicate {
                position: 5,
                seq: 3
            },
            StreamProblem::Duplicate {
                position: 6,
                seq: 4
            },
        ]
    );
}

#[test]
fn an_altered_entry_is_broken_once() {
    let mut stream = messages(5);
    let text = String::from_utf8(stream[2].clone()).unwrap();
    stream[2] = text
        .replace("get_appointments", "list_providers")
        .into_bytes();
    let report = check(&stream);
    assert!(!report.intact());
    assert_eq!(
        report.problems,
        vec![StreamProblem::Broken {
            position: 3,
            seq: Some(3),
            reason: BreakReason::HashMismatch
        }]
    );
}

#[test]
fn a_resealed_entry_breaks_the_next_link() {
    // The forger recomputes the altered entry's hash: the next entry no longer links to it.
    let stream = messages(4);
    let third: AuditEntry = serde_json::from_slice(&stream[2]).unwrap();
    let mut forged_event = third.event.clone();
    forged_event.resource = "list_providers".into();
    let forged = AuditEntry::seal(third.id, 3, third.time, forged_event, &third.prev);
    let mut tampered = stream.clone();
    tampered[2] = forged.to_line();
    let report = check(&tampered);
    assert!(!report.intact());
    assert_eq!(
        report.problems,
        vec![StreamProblem::Broken {
            position: 4,
            seq: Some(4),
            reason: BreakReason::PrevMismatch
        }]
    );
}

#[test]
fn garbage_and_a_second_entry_under_a_taken_number_are_broken() {
    let stream = messages(3);
    let mut other = messages(3); // another chain: same seqs, other hashes
    let mut mixed = stream.clone();
    mixed.push(b"not json".to_vec());
    mixed.push(other.remove(1));
    let report = check(&mixed);
    assert!(!report.intact());
    assert_eq!(report.entries, 3);
    assert!(matches!(
        report.problems[0],
        StreamProblem::Broken {
            position: 4,
            seq: None,
            ..
        }
    ));
    assert!(matches!(
        report.problems[1],
        StreamProblem::Broken {
            position: 5,
            seq: Some(2),
            ..
        }
    ));
}

#[test]
fn a_hash_of_the_wrong_length_is_broken_not_a_panic() {
    let stream = messages(2);
    let text = String::from_utf8(stream[1].clone()).unwrap();
    let hash_at = text.rfind("\"hash\":\"").unwrap() + 8;
    let short = format!("{}abc\"}}", &text[..hash_at]);
    let report = check(&[stream[0].clone(), short.into_bytes()]);
    assert!(!report.intact());
}
