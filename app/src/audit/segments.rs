//! The spool's segments. The spool writes to one *active* file (`audit.jsonl`); once it holds
//! `segment_bytes`, the spool closes it cleanly and renames it to the next numbered segment
//! (`audit.000001.jsonl`, `audit.000002.jsonl`, …), then starts a new active file. The chain runs
//! on across files: the first entry of a new segment has the next `seq` and links (`prev`) to the
//! last entry of the one before, so the whole trail is the numbered segments in order, then the
//! active file. [`verify_paths`] checks that, given a directory or a list of files.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::chain::{Verifier, VerifyError, VerifySummary};

/// The active segment's name inside the audit directory.
pub const ACTIVE: &str = "audit.jsonl";

/// The path of numbered segment `n` beside the active file `active` (`audit.jsonl` →
/// `audit.000007.jsonl`).
pub fn numbered(active: &Path, n: u64) -> PathBuf {
    let (stem, ext) = stem_ext(active);
    active.with_file_name(format!("{stem}.{n:06}{ext}"))
}

fn stem_ext(active: &Path) -> (String, String) {
    let stem = active
        .file_stem()
        .map_or_else(|| "audit".into(), |s| s.to_string_lossy().into_owned());
    let ext = active
        .extension()
        .map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    (stem, ext)
}

/// The numbered segments beside `active`, by number.
pub fn list(active: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let dir = match active.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (stem, ext) = stem_ext(active);
    let prefix = format!("{stem}.");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(&ext))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = number {
            found.push((n, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Verifies a chain given as files in order, each a segment continuing the one before. A
/// directory stands for its numbered segments (which must run without gaps) and then its
/// active file.
pub fn verify_paths(paths: &[PathBuf]) -> Result<VerifySummary, VerifyError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let active = path.join(ACTIVE);
            let numbered = list(&active)?;
            for pair in numbered.windows(2) {
                if pair[1].0 != pair[0].0 + 1 {
                    return Err(VerifyError::MissingSegment {
                        file: self::numbered(&active, pair[0].0 + 1).display().to_string(),
                    });
                }
            }
            let before = files.len();
            files.extend(numbered.into_iter().map(|(_, p)| p));
            if active.exists() {
                files.push(active);
            }
            if files.len() == before {
                return Err(VerifyError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no audit segments in {}", path.display()),
                )));
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut verifier = Verifier::new();
    let single = files.len() == 1;
    for file in &files {
        let fed = File::open(file)
            .map_err(VerifyError::from)
            .and_then(|f| verifier.feed(BufReader::with_capacity(1 << 16, f)));
        if let Err(error) = fed {
            if single {
                return Err(error);
            }
            return Err(VerifyError::InSegment {
                file: file.display().to_string(),
                error: Box::new(error),
            });
        }
    }
    Ok(verifier.summary())
}

#[cfg(test)]
#[path = "segments_tests.rs"]
mod tests;
