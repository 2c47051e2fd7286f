//! Tests of the entry format, the chain hash and the verifier: what a reviewer checking the
//! integrity of the audit trail would try.

use std::io::Cursor;

use proptest::prelude::*;

use super::*;
use crate::audit::{AuditAction, AuditActor, AuditOutcome};
use crate::pms::{AccountId, E164, PatientId};

/// A varied event; `n` picks the variant.
pub(crate) fn event(n: u64) -> AuditEvent {
    AuditEvent {
        action: if n.is_multiple_of(3) {
            AuditAction::Read
        } else {
            AuditAction::Create
        },
        outcome: if n.is_multiple_of(5) {
            AuditOutcome::Denied
        } else {
            AuditOutcome::Success
        },
        resource: "get_appointments".into(),
        account_id: n.is_multiple_of(2).then(|| AccountId::new("acct-7")),
        actor: AuditActor {
            kind: "vapi".into(),
            call_id: Some(format!("call-{n}")),
            org_id: None,
            caller: n
                .is_multiple_of(4)
                .then(|| E164::parse("+14155550123").unwrap()),
        },
        patient_ids: (0..n % 3)
            .map(|i| PatientId::new(format!("p{i}")))
            .collect(),
        request_id: Some(format!("req-{n}")),
        source_ip: None,
        reason: n
            .is_multiple_of(5)
            .then(|| "caller not verified, \"quoted\" \\ and ünïcode".into()),
    }
}

/// A valid chain of `n` entries as spool text.
fn chain_text(n: u64) -> String {
    let mut head = ChainHead::default();
    let mut out = Vec::new();
    for i in 1..=n {
        let time = Timestamp::from_second(1_750_000_000 + i as i64).unwrap();
        head.append(&mut out, Uuid::now_v7(), time, &event(i));
    }
    String::from_utf8(out).unwrap()
}

fn verify(text: &str) -> Result<VerifySummary, VerifyError> {
    Verifier::verify_reader(Cursor::new(text.as_bytes()))
}

fn broken_at(text: &str) -> (u64, BreakReason) {
    match verify(text) {
        Err(VerifyError::Broken { line, reason }) => (line, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn a_line_is_serde_json_of_the_entry_and_the_hash_covers_it_without_the_hash() {
    let text = chain_text(3);
    let mut prev = GENESIS.to_owned();
    for (i, line) in text.lines().enumerate() {
        let entry: AuditEntry = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&entry).unwrap(), line);
        assert_eq!(entry.seq, i as u64 + 1);
        assert_eq!(entry.prev, prev);
        assert_eq!(entry.id.get_version_num(), 7);
        // The recipe from the module documentation, as an outside verifier would apply it.
        let body = format!("{}}}", &line[..line.rfind(",\"hash\":").unwrap()]);
        let digest = Sha256::digest(format!("{prev}{body}").as_bytes());
        assert_eq!(hex::encode(digest), entry.hash);
        assert_eq!(
            AuditEntry::seal(entry.id, entry.seq, entry.time, entry.event.clone(), &prev),
            entry
        );
        prev = entry.hash;
    }
}

#[test]
fn times_never_go_backwards_along_the_chain() {
    let mut head = ChainHead::default();
    let mut out = Vec::new();
    let later = Timestamp::from_second(1_750_000_100).unwrap();
    let earlier = Timestamp::from_second(1_750_000_000).unwrap();
    head.append(&mut out, Uuid::now_v7(), later, &event(1));
    head.append(&mut out, Uuid::now_v7(), earlier, &event(2));
    let second: AuditEntry =
        serde_json::from_str(std::str::from_utf8(&out).unwrap().lines().nth(1).unwrap()).unwrap();
    assert_eq!(second.time, later);
}

#[test]
fn an_intact_chain_verifies_with_its_count_and_last_hash() {
    assert_eq!(
        verify("").unwrap(),
        VerifySummary {
            entries: 0,
            last_hash: GENESIS.into()
        }
    );
    let text = chain_text(5);
    let last: AuditEntry = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(
        verify(&text).unwrap(),
        VerifySummary {
            entries: 5,
            last_hash: last.hash
        }
    );
}

#[test]
fn a_changed_field_is_caught_on_its_line() {
    let mut l = lines(&chain_text(5));
    l[2] = l[2].replacen(
        "\"resource\":\"get_appointments\"",
        "\"resource\":\"book_appointment\"",
        1,
    );
    assert_eq!(broken_at(&join(&l)), (3, BreakReason::HashMismatch));
}

#[test]
fn a_deleted_line_is_caught_where_it_was() {
    let mut l = lines(&chain_text(5));
    l.remove(2);
    assert_eq!(
        broken_at(&join(&l)),
        (
            3,
            BreakReason::SeqGap {
                expected: 3,
                found: 4
            }
        )
    );
}

#[test]
fn a_deleted_line_with_renumbered_successors_is_caught_by_the_links() {
    let mut l = lines(&chain_text(5));
    l.remove(2);
    l[2] = l[2].replacen("\"seq\":4", "\"seq\":3", 1);
    assert_eq!(broken_at(&join(&l)), (3, BreakReason::PrevMismatch));
}

#[test]
fn swapped_lines_are_caught_at_the_first_of_them() {
    let mut l = lines(&chain_text(5));
    l.swap(1, 2);
    assert_eq!(
        broken_at(&join(&l)),
        (
            2,
            BreakReason::SeqGap {
                expected: 2,
                found: 3
            }
        )
    );
}

#[test]
fn a_truncated_chain_still_verifies_but_its_last_hash_changes() {
    // Cutting the end off leaves a valid prefix; the shipped last hash is what exposes it.
    let text = chain_text(5);
    let full = verify(&text).unwrap();
    let prefix = verify(&join(&lines(&text)[..4])).unwrap();
    assert_eq!(prefix.entries, 4);
    assert_ne!(prefix.last_hash, full.last_hash);
}

#[test]
fn edits_that_keep_the_meaning_are_still_caught() {
    let mut l = lines(&chain_text(3));
    l[1] = l[1].replacen("\"seq\":2", "\"seq\": 2", 1);
    assert_eq!(broken_at(&join(&l)), (2, BreakReason::NotCanonical));

    let mut l = lines(&chain_text(3));
    l[1] = l[1].replacen("{", "{\"note\":\"added\",", 1);
    assert_eq!(broken_at(&join(&l)), (2, BreakReason::NotCanonical));
}

#[test]
fn a_reused_id_is_caught_even_in_a_resealed_chain() {
    let id = Uuid::now_v7();
    let time = Timestamp::from_second(1_750_000_000).unwrap();
    let first = AuditEntry::seal(id, 1, time, event(1), GENESIS);
    let second = AuditEntry::seal(id, 2, time, event(2), &first.hash);
    let text = join(&[first, second].map(|e| String::from_utf8(e.to_line()).unwrap()));
    assert_eq!(
        broken_at(&text),
        (2, BreakReason::DuplicateId { first_line: 1 })
    );
}

#[test]
fn garbage_and_torn_lines_are_reported_without_their_contents() {
    let mut l = lines(&chain_text(3));
    l[1] = "{\"id\":\"secret-patient-name\",\"seq\":2}".into();
    let (line, reason) = broken_at(&join(&l));
    assert_eq!(line, 2);
    assert!(matches!(reason, BreakReason::Unparseable { .. }));
    assert!(!reason.to_string().contains("secret"), "{reason}");

    let text = chain_text(3);
    let torn = &text[..text.len() - 10];
    assert_eq!(broken_at(torn), (3, BreakReason::Torn));
}

#[test]
fn verify_file_reads_a_spool_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, chain_text(4)).unwrap();
    assert_eq!(verify_file(&path).unwrap().entries, 4);
    assert!(matches!(
        verify_file(dir.path().join("missing")),
        Err(VerifyError::Io(_))
    ));
}

#[test]
fn nul_padding_after_the_last_line_is_accepted() {
    let text = chain_text(3);
    let full = verify(&text).unwrap();
    for padding in [1, 4096, 3 << 16] {
        let mut bytes = text.clone().into_bytes();
        bytes.resize(bytes.len() + padding, 0);
        // A small buffer makes the padding span many reads.
        let reader = std::io::BufReader::with_capacity(64, Cursor::new(&bytes));
        assert_eq!(Verifier::verify_reader(reader).unwrap(), full);
    }
    // An empty spool that is all padding.
    let reader = Cursor::new(vec![0u8; 1000]);
    assert_eq!(Verifier::verify_reader(reader).unwrap().entries, 0);
}

#[test]
fn a_nul_anywhere_but_the_trailing_padding_breaks_the_chain() {
    let broken = |bytes: &[u8]| match Verifier::verify_reader(Cursor::new(bytes)) {
        Err(VerifyError::Broken { line, reason }) => (line, reason),
        other => panic!("expected a broken chain, got {other:?}"),
    };
    let text = chain_text(3);
    let l = lines(&text);
    // Padding, then more entries.
    let mut bytes = format!("{}\n", l[0]).into_bytes();
    bytes.extend_from_slice(&[0; 100]);
    bytes.extend_from_slice(format!("{}\n{}\n", l[1], l[2]).as_bytes());
    assert_eq!(broken(&bytes), (2, BreakReason::Nul));
    // A NUL inside a line.
    let mut bytes = text.clone().into_bytes();
    let inside = l[0].len() + 1 + 10;
    bytes[inside] = 0;
    assert_eq!(broken(&bytes), (2, BreakReason::Nul));
    // A line of NULs between entries.
    let mut bytes = format!("{}\n", l[0]).into_bytes();
    bytes.extend_from_slice(b"\0\0\0\n");
    bytes.extend_from_slice(format!("{}\n", l[1]).as_bytes());
    assert_eq!(broken(&bytes), (2, BreakReason::Nul));
    // A torn last line followed by padding is still torn.
    let mut bytes = text.as_bytes()[..text.len() - 10].to_vec();
    bytes.extend_from_slice(&[0; 4096]);
    assert_eq!(broken(&bytes), (3, BreakReason::Torn));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any single changed byte anywhere in the spool is detected.
    #[test]
    fn any_changed_byte_breaks_the_chain(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let mut bytes = chain_text(4).into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = bytes[i].wrapping_add(delta);
        let result = Verifier::verify_reader(Cursor::new(&bytes));
        prop_assert!(result.is_err(), "byte {} changed and the chain still verified", i);
    }
}

/// A chain sealed entry by entry at the given times (seconds), without the spool's clamping.
pub(crate) fn sealed_at(seconds: &[i64]) -> String {
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for (i, s) in seconds.iter().enumerate() {
        let time = Timestamp::from_second(*s).unwrap();
        let entry = AuditEntry::seal(Uuid::now_v7(), i as u64 + 1, time, event(i as u64), &prev);
        out.push_str(std::str::from_utf8(&entry.to_line()).unwrap());
        out.push('\n');
        prev = entry.hash;
    }
    out
}

#[test]
fn a_resealed_entry_whose_time_runs_backwards_is_caught() {
    let base = 1_750_000_000;
    assert_eq!(
        verify(&sealed_at(&[base, base, base + 5])).unwrap().entries,
        3
    );
    // Every hash and link is right; only the time of line 3 is before line 2's.
    let text = sealed_at(&[base, base + 10, base + 9, base + 20]);
    assert_eq!(broken_at(&text), (3, BreakReason::TimeBackwards));
}
