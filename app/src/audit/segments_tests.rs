//! Tests of the verifier over a chain split into segment files: what a reviewer checking a
//! rotated audit trail would try (a missing, reordered or foreign segment).

use super::*;
use crate::audit::chain::BreakReason;
use crate::audit::chain::tests::sealed_at;

/// A nine-entry chain split into `audit.000001.jsonl`, `audit.000002.jsonl` and `audit.jsonl`.
fn three_segments() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let text = sealed_at(&(0..9).map(|i| 1_750_000_000 + i).collect::<Vec<_>>());
    let lines: Vec<&str> = text.lines().collect();
    let active = dir.path().join(ACTIVE);
    let paths = vec![numbered(&active, 1), numbered(&active, 2), active];
    for (k, path) in paths.iter().enumerate() {
        let part: String = lines[k * 3..k * 3 + 3]
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(path, part).unwrap();
    }
    (dir, paths)
}

fn segment_error(result: Result<VerifySummary, VerifyError>) -> (String, VerifyError) {
    match result {
        Err(VerifyError::InSegment { file, error }) => (file, *error),
        other => panic!("expected an error in a segment, got {other:?}"),
    }
}

#[test]
fn a_directory_verifies_as_one_chain_across_its_segments() {
    let (dir, paths) = three_segments();
    assert_eq!(
        verify_paths(&[dir.path().to_path_buf()]).unwrap().entries,
        9
    );
    assert_eq!(verify_paths(&paths).unwrap().entries, 9);
    assert_eq!(
        list(&paths[2])
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[test]
fn a_missing_segment_in_a_directory_is_named() {
    let (dir, paths) = three_segments();
    std::fs::remove_file(&paths[1]).unwrap();
    // The last numbered segment gone: the active file no longer joins.
    let (file, error) = segment_error(verify_paths(&[dir.path().to_path_buf()]));
    assert!(file.ends_with(ACTIVE), "{file}");
    assert!(matches!(
        error,
        VerifyError::Broken {
            line: 1,
            reason: BreakReason::SegmentJoin {
                expected: 4,
                found: 7
            }
        }
    ));
    // A gap in the numbers is named even before the chain is read.
    std::fs::rename(&paths[2], numbered(&paths[2], 3)).unwrap();
    match verify_paths(&[dir.path().to_path_buf()]) {
        Err(VerifyError::MissingSegment { file }) => assert!(file.ends_with("audit.000002.jsonl")),
        other => panic!("expected a missing segment, got {other:?}"),
    }
}

#[test]
fn segments_that_do_not_join_are_reported_at_the_first_line_of_the_later_one() {
    let (_dir, paths) = three_segments();
    // One left out of a list.
    let (file, error) = segment_error(verify_paths(&[paths[0].clone(), paths[2].clone()]));
    assert!(file.ends_with(ACTIVE), "{file}");
    assert!(matches!(
        error,
        VerifyError::Broken {
            line: 1,
            reason: BreakReason::SegmentJoin {
                expected: 4,
                found: 7
            }
        }
    ));
    // Two swapped.
    let swapped = [paths[1].clone(), paths[0].clone(), paths[2].clone()];
    let (file, error) = segment_error(verify_paths(&swapped));
    assert!(file.ends_with("audit.000002.jsonl"), "{file}");
    assert!(
        matches!(error, VerifyError::Broken { line: 1, .. }),
        "{error}"
    );
    // Renumbered by hand: the names are in order, the contents are not.
    std::fs::rename(&paths[0], paths[0].with_extension("tmp")).unwrap();
    std::fs::rename(&paths[1], &paths[0]).unwrap();
    std::fs::rename(paths[0].with_extension("tmp"), &paths[1]).unwrap();
    let (_, error) = segment_error(verify_paths(&[paths[0].parent().unwrap().to_path_buf()]));
    assert!(
        matches!(error, VerifyError::Broken { line: 1, .. }),
        "{error}"
    );
}

#[test]
fn a_segment_from_another_chain_does_not_join_even_with_the_right_numbers() {
    let (_dir, paths) = three_segments();
    // Lines 4–6 of a different chain: right seq numbers, wrong links.
    let other = sealed_at(&(0..6).map(|i| 1_750_000_000 + i).collect::<Vec<_>>());
    let tail: String = other.lines().skip(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&paths[1], tail).unwrap();
    let (file, error) = segment_error(verify_paths(&paths));
    assert!(file.ends_with("audit.000002.jsonl"), "{file}");
    assert!(matches!(
        error,
        VerifyError::Broken {
            line: 1,
            reason: BreakReason::SegmentJoin {
                expected: 4,
                found: 4
            }
        }
    ));
}

#[test]
fn time_running_backwards_across_segments_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let text = sealed_at(&[100, 200, 150]);
    let lines: Vec<&str> = text.lines().collect();
    let active = dir.path().join(ACTIVE);
    std::fs::write(
        numbered(&active, 1),
        format!("{}\n{}\n", lines[0], lines[1]),
    )
    .unwrap();
    std::fs::write(&active, format!("{}\n", lines[2])).unwrap();
    let (_, error) = segment_error(verify_paths(&[dir.path().to_path_buf()]));
    assert!(matches!(
        error,
        VerifyError::Broken {
            line: 1,
            reason: BreakReason::TimeBackwards
        }
    ));
}

#[test]
fn an_empty_directory_is_not_an_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        verify_paths(&[dir.path().to_path_buf()]),
        Err(VerifyError::Io(_))
    ));
}
