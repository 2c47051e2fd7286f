//! The shipper's state on disk, beside the spool: the checkpoint (which stream, the last shipped
//! seq and where its line ends, to resume without rescanning) and the dead-letter file (the lines
//! CloudWatch rejected).
//!
//! The checkpoint is written atomically: a temp file, `fsync`, `rename`, `fsync` of the
//! directory, so a crash leaves the old or the new one, never half. The dead-letter file is
//! `0600`, appended and synced before the checkpoint moves past its lines.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The checkpoint's name in the audit directory.
pub const CHECKPOINT: &str = "shipper.checkpoint.json";
/// The dead-letter file's name in the audit directory.
pub const DEAD_LETTERS: &str = "shipper.deadletter.jsonl";

/// Where a line ends: the file (by device and inode, so a rename into a segment does not lose
/// it) and the offset just past the line's newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// What the checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The CloudWatch Logs stream this spool ships to.
    pub stream: String,
    /// The last seq the destination accepted (or dead-lettered); `0`: none yet.
    pub shipped: u64,
    /// Where that entry's line ends; `None` before the first batch.
    pub position: Option<Position>,
}

impl Checkpoint {
    /// The checkpoint in `dir`, if there is one.
    pub fn load(dir: &Path) -> io::Result<Option<Checkpoint>> {
        match fs::read(dir.join(CHECKPOINT)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the shipper checkpoint is not valid: {e}"),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the checkpoint in `dir` atomically.
    pub fn store(&self, dir: &Path) -> io::Result<()> {
        let tmp = dir.join(format!("{CHECKPOINT}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serde_json::to_vec(self).expect("a checkpoint serialises"))?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(CHECKPOINT))?;
        File::open(dir)?.sync_all()
    }
}

/// The dead-letter file: rejected lines, one per line, synced on every append.
pub struct DeadLetters {
    path: PathBuf,
}

impl DeadLetters {
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(DEAD_LETTERS),
        }
    }

    /// Appends `lines` (each without its newline) and syncs them.
    pub fn append<'a>(&self, lines: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        let mut buf = Vec::new();
        for line in lines {
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&self.path)?;
        file.write_all(&buf)?;
        file.sync_data()
    }
}
