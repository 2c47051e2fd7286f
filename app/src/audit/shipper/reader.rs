//! Reads the spool's chain in order (numbered segments, then the active file), complete lines
//! only, never beyond the durable seq. It holds the file it reads open, so when the spool renames
//! the active file into a segment it keeps reading the same inode to its end, then moves on to
//! the next segment or the new active file.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Deserialize;

use super::checkpoint::Position;
use crate::audit::segments;

/// How much the reader reads from a file at once.
const CHUNK: usize = 256 << 10;

/// One line of the chain.
#[derive(Debug, Clone)]
pub struct Line {
    pub seq: u64,
    pub time: Timestamp,
    /// The line exactly, without its newline.
    pub text: String,
    /// Where the line ends.
    pub end: Position,
}

/// The two fields the shipper needs from a line.
#[derive(Deserialize)]
struct Head {
    seq: u64,
    time: Timestamp,
}

struct Open {
    file: File,
    dev: u64,
    ino: u64,
}

pub struct Reader {
    active: PathBuf,
    current: Option<Open>,
    /// The file offset of `buf[start]`: `buf[..start]` is consumed.
    offset: u64,
    buf: Vec<u8>,
    start: usize,
    /// The seq the next line should have; lines below it are skipped.
    next_seq: u64,
    /// The offset at which the current (rotated) file was read again before moving on.
    reread_at: Option<u64>,
}

/// The chain's files in order: numbered segments, then the active file if it exists. Listed
/// again if the active file was rotated while the directory was read (else the listing could
/// miss the newest segment and name the new active file in its place).
fn chain_files(active: &Path) -> io::Result<Vec<(PathBuf, Id)>> {
    let identity = |path: &Path| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    loop {
        let before = identity(active);
        let mut files = Vec::new();
        for (_, path) in segments::list(active)? {
            // A numbered segment keeps its name and inode for good.
            if let Some(id) = identity(&path) {
                files.push((path, id));
            }
        }
        let after = identity(active);
        if before != after {
            continue;
        }
        if let Some(id) = after {
            files.push((active.to_path_buf(), id));
        }
        return Ok(files);
    }
}

/// A file's device and inode.
type Id = (u64, u64);

fn open(path: &Path) -> io::Result<Open> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    Ok(Open {
        dev: meta.dev(),
        ino: meta.ino(),
        file,
    })
}

impl Reader {
    /// A reader of the chain whose active file is `active`, positioned after seq `shipped`: at
    /// `position` if that file is still part of the chain, else at the start of the chain,
    /// skipping what was shipped.
    pub fn open(active: &Path, shipped: u64, position: Option<Position>) -> io::Result<Reader> {
        let mut reader = Reader {
            active: active.to_path_buf(),
            current: None,
            offset: 0,
            buf: Vec::with_capacity(CHUNK),
            start: 0,
            reread_at: None,
            next_seq: shipped + 1,
        };
        if let Some(position) = position {
            for (path, id) in chain_files(active)? {
                if id == (position.dev, position.ino)
                    && let Ok(candidate) = open(&path)
                    && (candidate.dev, candidate.ino) == id
                {
                    reader.current = Some(candidate);
                    reader.offset = position.offset;
                    return Ok(reader);
                }
            }
            tracing::warn!(
                shipped,
                "audit shipper: checkpointed file not found; rescanning the chain"
            );
        }
        Ok(reader)
    }

    /// The seq of the next line to read.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Up to `max_lines` lines (and about `max_bytes`), none beyond seq `durable`.
    pub fn read(
        &mut self,
        durable: u64,
        max_lines: usize,
        max_bytes: usize,
    ) -> io::Result<Vec<Line>> {
        let mut lines = Vec::new();
        let mut bytes = 0;
        while lines.len() < max_lines && bytes < max_bytes && self.next_seq <= durable {
            if self.current.is_none() && !self.advance()? {
                break;
            }
            match self.next_line(durable)? {
                Step::Line(line) => {
                    bytes += line.text.len();
                    lines.push(line);
                }
                Step::Skipped => {}
                Step::Beyond => break,
                Step::End => {
                    if !self.advance()? {
                        break;
                    }
                }
            }
        }
        Ok(lines)
    }

    /// Moves to the file after the current one (or the first, with none open). `false` when
    /// there is none yet: the current file is still the active one.
    fn advance(&mut self) -> io::Result<bool> {
        if let Some(current) = &self.current
            && let Ok(meta) = std::fs::metadata(&self.active)
            && (meta.dev(), meta.ino()) == (current.dev, current.ino)
        {
            // Caught up with the active file: nothing follows it (no directory listing).
            return Ok(false);
        }
        loop {
            let files = chain_files(&self.active)?;
            let next = match self.next_file(&files)? {
                Next::Reread => return Ok(true),
                Next::None => return Ok(false),
                Next::File(path, id) => (path, id),
            };
            match open(&next.0) {
                Ok(opened) if (opened.dev, opened.ino) == next.1 => {
                    self.current = Some(opened);
                    self.reread_at = None;
                    self.offset = 0;
                    self.clear();
                    return Ok(true);
                }
                // The active file was rotated since it was listed: list again.
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn next_file(&mut self, files: &[(PathBuf, Id)]) -> io::Result<Next> {
        let next = match &self.current {
            None => files.first().cloned(),
            Some(current) => {
                let found = files
                    .iter()
                    .position(|(_, id)| *id == (current.dev, current.ino));
                let rotated = found.is_some_and(|i| i + 1 < files.len());
                if rotated && self.reread_at != Some(self.offset) {
                    // What we last read of this file may predate its final lines (we saw the
                    // padding, then the writer filled it and renamed the file): read it again
                    // from here before moving on. Rotated files end at their last line.
                    if current.file.metadata()?.len() > self.offset {
                        self.reread_at = Some(self.offset);
                        self.clear();
                        return Ok(Next::Reread);
                    }
                }
                match found {
                    Some(i) => files.get(i + 1).cloned(),
                    // Not in the chain any more (an operator moved it away): start over.
                    None => files.first().cloned(),
                }
            }
        };
        Ok(next.map_or(Next::None, |(path, id)| Next::File(path, id)))
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    fn next_line(&mut self, durable: u64) -> io::Result<Step> {
        loop {
            let pending = &self.buf[self.start..];
            if pending.first() == Some(&0) {
                // Padding after the logical end: the writer will fill it; read it again later.
                self.clear();
                return Ok(Step::End);
            }
            if let Some(nl) = pending.iter().position(|&b| b == b'\n' || b == 0) {
                if pending[nl] == 0 {
                    // A line still being written (beyond the durable seq).
                    self.clear();
                    return Ok(Step::End);
                }
                let line = &pending[..nl];
                let head: Head = serde_json::from_slice(line).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("audit line at byte {} is not an entry: {e}", self.offset),
                    )
                })?;
                if head.seq > durable {
                    return Ok(Step::Beyond);
                }
                let current = self.current.as_ref().expect("a file is open");
                let end = self.offset + nl as u64 + 1;
                let text = String::from_utf8(line.to_vec()).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, "audit line is not UTF-8")
                })?;
                let position = Position {
                    dev: current.dev,
                    ino: current.ino,
                    offset: end,
                };
                self.start += nl + 1;
                self.offset = end;
                if head.seq < self.next_seq {
                    return Ok(Step::Skipped);
                }
                if head.seq > self.next_seq {
                    tracing::warn!(
                        expected = self.next_seq,
                        found = head.seq,
                        "audit shipper: entries missing from the spool"
                    );
                }
                self.next_seq = head.seq + 1;
                return Ok(Step::Line(Line {
                    seq: head.seq,
                    time: head.time,
                    text,
                    end: position,
                }));
            }
            let current = self.current.as_ref().expect("a file is open");
            self.buf.drain(..self.start);
            self.start = 0;
            let at = self.offset + self.buf.len() as u64;
            let have = self.buf.len();
            self.buf.resize(have + CHUNK, 0);
            let n = current.file.read_at(&mut self.buf[have..], at)?;
            self.buf.truncate(have + n);
            if n == 0 {
                // The end of the file; a partial line here is not complete yet.
                self.clear();
                return Ok(Step::End);
            }
        }
    }
}

enum Next {
    Reread,
    None,
    File(PathBuf, Id),
}

enum Step {
    Line(Line),
    Skipped,
    Beyond,
    End,
}
