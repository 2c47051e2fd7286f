//! Reopening a spool file: finding where its chain ends behind the NUL padding, cutting away a
//! torn tail a crash left, and reading the chain head from the last complete line (see the
//! "Recovery" section of [`super::spool`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::chain::{ChainHead, chain_hash, parse_line};
use super::spool::TAIL_WINDOW;

/// Overwrites `[from, to)` of `file` with zeros.
pub(super) fn zero(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; to.saturating_sub(from).min(1 << 20) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64);
        file.write_all_at(&zeros[..n as usize], at)?;
        at += n;
    }
    Ok(())
}

/// What recovery found in an existing file.
pub(super) struct Recovered {
    pub head: ChainHead,
    /// The end of the last complete line.
    pub logical_end: u64,
    /// The file's length (everything past `logical_end` is zeros now).
    pub physical_end: u64,
}

/// The offset of the last byte before `before` that satisfies `pred`, reading backwards.
pub(super) fn rfind(
    file: &File,
    before: u64,
    pred: impl Fn(u8) -> bool,
) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 64 << 10;
    let mut buf = vec![0u8; CHUNK as usize];
    let mut end = before;
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| pred(b)) {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// Finds the logical end and the chain head, and zeroes a torn tail. See the module
/// documentation.
pub(super) fn recover(file: &File, path: &Path) -> io::Result<Recovered> {
    let physical_end = file.metadata()?.len();
    let content_end = rfind(file, physical_end, |b| b != 0)?.map_or(0, |i| i + 1);
    let window_start = content_end.saturating_sub(TAIL_WINDOW);
    let mut window = vec![0u8; (content_end - window_start) as usize];
    file.read_exact_at(&mut window, window_start)?;
    let hole = window.iter().position(|&b| b == 0);
    let limit = window_start + hole.unwrap_or(window.len()) as u64;
    drop(window);
    let logical_end = rfind(file, limit, |b| b == b'\n')?.map_or(0, |i| i + 1);
    let head = head_at(file, logical_end, path)?;
    if logical_end < content_end {
        tracing::warn!(
            spool = %path.display(),
            torn_bytes = content_end - logical_end,
            hole = hole.is_some(),
            "audit spool: zeroing a torn tail left by an interrupted write"
        );
        zero(file, logical_end, content_end)?;
        file.sync_data()?;
    }
    Ok(Recovered {
        head,
        logical_end,
        physical_end,
    })
}

/// The chain head after the last complete line, which ends at `logical_end`.
pub(super) fn head_at(file: &File, logical_end: u64, path: &Path) -> io::Result<ChainHead> {
    Ok(if logical_end == 0 {
        ChainHead::default()
    } else {
        let line_start = rfind(file, logical_end - 1, |b| b == b'\n')?.map_or(0, |i| i + 1);
        let mut line = vec![0u8; (logical_end - 1 - line_start) as usize];
        file.read_exact_at(&mut line, line_start)?;
        let damaged = |why: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the last entry of audit spool {} is damaged ({why}); verify it before writing",
                    path.display()
                ),
            )
        };
        let entry = parse_line(&line).map_err(|r| damaged(r.to_string()))?;
        if chain_hash(&entry.prev, &entry.body_bytes()) != entry.hash.as_bytes() {
            return Err(damaged("hash mismatch".into()));
        }
        ChainHead::after(&entry)
    })
}
