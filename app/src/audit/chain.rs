//! The stored audit entry, its hash chain, and the verifier that checks a spool end to end.
//!
//! # Format
//! A spool is UTF-8 JSON Lines: one [`AuditEntry`] per line, every line ending in `\n`. The last
//! line may be followed by NUL bytes and nothing else: the spool writes into space it has filled
//! with zeros ahead of time, and a spool that was not closed cleanly (a crash) still has that
//! padding. A line never contains a NUL byte (JSON escapes it), so NULs anywhere else break the
//! chain. A line is
//! `serde_json`'s compact serialisation of the entry, fields in this order: `id` (UUID v7,
//! lowercase hyphenated), `seq` (1 for the first line, then +1 per line), `time` (RFC 3339, UTC,
//! `Z`; never decreasing along the chain), the event's fields (`action`, `outcome`, `resource`,
//! `account_id`, `actor`, `patient_ids`, `request_id`, `source_ip`, `reason`; empty optional
//! ones are left out), `prev`, `hash`.
//!
//! # Canonical bytes and the hash
//! `body` = the line without its trailing `\n` and without the final `,"hash":"<64 hex>"` member,
//! so it ends in `"prev":"<64 hex>"}`. That is exactly `serde_json::to_vec` of the entry with the
//! `hash` field omitted (compact, no whitespace, declaration order, serde_json's escaping).
//!
//! `hash = lowercase_hex(SHA-256(prev || body))`, where `prev` is the 64 ASCII hex characters of
//! the previous entry's `hash` (64 `0`s for the first entry), as they appear in the line.
//!
//! An outside verifier needs no Rust: for each line, `body="${line%,\"hash\":*}}"` and
//! `printf '%s%s' "$prev" "$body" | sha256sum` must equal the line's `hash`. The [`Verifier`]
//! also insists that each line is in this canonical form (re-serialising what it parsed gives the
//! same bytes), so whitespace edits or added fields are reported even before the hash check.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AuditEvent;

/// `prev` of the first entry of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the spool: an event with its id, its place in the chain and its chain hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(with = "uuid_text")]
    pub id: Uuid,
    pub seq: u64,
    pub time: Timestamp,
    #[serde(flatten)]
    pub event: AuditEvent,
    pub prev: String,
    pub hash: String,
}

/// The entry without its hash, borrowed: what the hash covers. Same field order as [`AuditEntry`].
#[derive(Serialize)]
struct Body<'a> {
    #[serde(serialize_with = "uuid_text::serialize")]
    id: Uuid,
    seq: u64,
    time: Timestamp,
    #[serde(flatten)]
    event: &'a AuditEvent,
    prev: &'a str,
}

impl AuditEntry {
    /// Builds the entry that follows `prev`, computing its hash.
    pub fn seal(id: Uuid, seq: u64, time: Timestamp, event: AuditEvent, prev: &str) -> Self {
        let body = Body {
            id,
            seq,
            time,
            event: &event,
            prev,
        };
        let bytes = serde_json::to_vec(&body).expect("an audit entry always serialises");
        let hash = String::from_utf8(chain_hash(prev, &bytes).to_vec()).expect("hex is ASCII");
        Self {
            id,
            seq,
            time,
            event,
            prev: prev.to_owned(),
            hash,
        }
    }

    /// The canonical bytes the hash covers (see the module documentation).
    pub fn body_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        write_body(
            &mut out,
            self.id,
            self.seq,
            self.time,
            &self.event,
            &self.prev,
        );
        out
    }

    /// The spool line for this entry, without the trailing newline.
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = self.body_bytes();
        out.pop();
        push_hash_member(&mut out, self.hash.as_bytes());
        out
    }
}

/// `hex(sha256(prev || body))` as 64 ASCII bytes.
pub fn chain_hash(prev: &str, body: &[u8]) -> [u8; 64] {
    let digest = Sha256::new()
        .chain_update(prev.as_bytes())
        .chain_update(body)
        .finalize();
    let mut out = [0u8; 64];
    hex::encode_to_slice(digest, &mut out).expect("64 bytes hold a 32-byte digest in hex");
    out
}

/// Appends the canonical body of an entry to `out`.
fn write_body(
    out: &mut Vec<u8>,
    id: Uuid,
    seq: u64,
    time: Timestamp,
    event: &AuditEvent,
    prev: &str,
) {
    let body = Body {
        id,
        seq,
        time,
        event,
        prev,
    };
    serde_json::to_writer(&mut *out, &body).expect("an audit entry always serialises");
}

fn push_hash_member(out: &mut Vec<u8>, hash: &[u8]) {
    out.extend_from_slice(b",\"hash\":\"");
    out.extend_from_slice(hash);
    out.extend_from_slice(b"\"}");
}

/// Where the chain stands: what the next entry gets. The spool's writer owns one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub next_seq: u64,
    /// The last entry's hash (or [`GENESIS`]), as ASCII hex.
    pub prev: [u8; 64],
    /// The last entry's time; the next entry's time is never earlier.
    pub last_time: Timestamp,
}

impl Default for ChainHead {
    fn default() -> Self {
        let mut prev = [0u8; 64];
        prev.copy_from_slice(GENESIS.as_bytes());
        Self {
            next_seq: 1,
            prev,
            last_time: Timestamp::UNIX_EPOCH,
        }
    }
}

impl ChainHead {
    /// The head after `entry`.
    pub fn after(entry: &AuditEntry) -> Self {
        let mut prev = [0u8; 64];
        prev.copy_from_slice(entry.hash.as_bytes());
        Self {
            next_seq: entry.seq + 1,
            prev,
            last_time: entry.time,
        }
    }

    fn prev_str(&self) -> &str {
        std::str::from_utf8(&self.prev).expect("the head's hash is ASCII hex")
    }

    /// Appends the next entry, newline included, to `out` and advances the head. Returns the
    /// entry's sequence number. The only allocation is `out` growing.
    pub fn append(
        &mut self,
        out: &mut Vec<u8>,
        id: Uuid,
        now: Timestamp,
        event: &AuditEvent,
    ) -> u64 {
        let seq = self.next_seq;
        let time = now.max(self.last_time);
        let start = out.len();
        write_body(out, id, seq, time, event, self.prev_str());
        let hash = chain_hash(self.prev_str(), &out[start..]);
        out.pop();
        push_hash_member(out, &hash);
        out.push(b'\n');
        self.next_seq += 1;
        self.prev = hash;
        self.last_time = time;
        seq
    }
}

/// Parses one line (without its newline) and checks it is canonical and its hash matches its own
/// `prev`. Chain links (seq, prev, unique ids) are the [`Verifier`]'s job.
pub fn parse_line(line: &[u8]) -> Result<AuditEntry, BreakReason> {
    let entry: AuditEntry = serde_json::from_slice(line).map_err(|e| BreakReason::Unparseable {
        category: format!("{:?}", e.classify()).to_lowercase(),
        column: e.column(),
    })?;
    if entry.to_line() != line {
        return Err(BreakReason::NotCanonical);
    }
    Ok(entry)
}

/// Why a line breaks the chain. Carries no field values, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    #[error("not a valid audit entry ({category} error at column {column})")]
    Unparseable { category: String, column: usize },
    #[error("not in canonical form (edited by hand, or fields added)")]
    NotCanonical,
    #[error("sequence number {found}, expected {expected} (a line was removed, added or moved)")]
    SeqGap { expected: u64, found: u64 },
    #[error("prev does not match the previous line's hash")]
    PrevMismatch,
    #[error("hash does not match the line's contents")]
    HashMismatch,
    #[error("id already used on line {first_line}")]
    DuplicateId { first_line: u64 },
    #[error("the last line has no newline (a torn write)")]
    Torn,
    #[error("NUL bytes inside the chain (padding may only follow the last line)")]
    Nul,
    #[error("time runs backwards: earlier than the previous entry's")]
    TimeBackwards,
    #[error(
        "this segment does not continue the previous one: it starts at sequence number {found}, \
         expected {expected} (a segment is missing, out of order or from another chain)"
    )]
    SegmentJoin { expected: u64, found: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("could not read the audit spool: {0}")]
    Io(#[from] io::Error),
    #[error("audit chain broken at line {line}: {reason}")]
    Broken { line: u64, reason: BreakReason },
    /// An error in one segment of a chain split into several files.
    #[error("{file}: {error}")]
    InSegment {
        file: String,
        error: Box<VerifyError>,
    },
    #[error("segment {file} is missing (the numbered segments must run without gaps)")]
    MissingSegment { file: String },
}

/// An intact chain: how many entries and where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    pub entries: u64,
    /// The last entry's hash, or [`GENESIS`] for an empty spool.
    pub last_hash: String,
}

/// Checks a chain line by line: each parses, is canonical, has the next `seq`, links to the
/// previous hash, hashes correctly, is not earlier than the previous entry and has an id not seen
/// before. A chain split into segments is fed one segment after the other ([`Verifier::feed`]):
/// the first line of each segment must continue the last line of the one before.
#[derive(Debug)]
pub struct Verifier {
    /// The line within the current segment.
    line: u64,
    entries: u64,
    head: ChainHead,
    /// id → line it first appeared on.
    ids: HashMap<Uuid, u64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Self {
            line: 0,
            entries: 0,
            head: ChainHead::default(),
            ids: Default::default(),
        }
    }

    /// Checks the next line (without its newline). On error, returns the 1-based line number.
    pub fn push(&mut self, line: &[u8]) -> Result<(), VerifyError> {
        self.line += 1;
        let line_no = self.line;
        let broken = |reason| VerifyError::Broken {
            line: line_no,
            reason,
        };
        let entry = parse_line(line).map_err(broken)?;
        let joins = line_no == 1 && self.entries > 0;
        if joins && (entry.seq != self.head.next_seq || entry.prev.as_bytes() != self.head.prev) {
            return Err(broken(BreakReason::SegmentJoin {
                expected: self.head.next_seq,
                found: entry.seq,
            }));
        }
        if entry.seq != self.head.next_seq {
            return Err(broken(BreakReason::SeqGap {
                expected: self.head.next_seq,
                found: entry.seq,
            }));
        }
        if entry.prev.as_bytes() != self.head.prev {
            return Err(broken(BreakReason::PrevMismatch));
        }
        let body = entry.body_bytes();
        if chain_hash(&entry.prev, &body) != entry.hash.as_bytes() {
            return Err(broken(BreakReason::HashMismatch));
        }
        if entry.time < self.head.last_time {
            return Err(broken(BreakReason::TimeBackwards));
        }
        if let Some(&first_line) = self.ids.get(&entry.id) {
            return Err(broken(BreakReason::DuplicateId { first_line }));
        }
        self.ids.insert(entry.id, line_no);
        self.head = ChainHead::after(&entry);
        self.entries += 1;
        Ok(())
    }

    pub fn summary(&self) -> VerifySummary {
        VerifySummary {
            entries: self.entries,
            last_hash: self.head.prev_str().to_owned(),
        }
    }

    /// Verifies a whole JSONL stream. A last line without `\n` is reported as [`BreakReason::Torn`].
    /// NUL padding after the last line is accepted (see the module documentation); a NUL
    /// anywhere else is [`BreakReason::Nul`].
    pub fn verify_reader(reader: impl BufRead) -> Result<VerifySummary, VerifyError> {
        let mut verifier = Verifier::new();
        verifier.feed(reader)?;
        Ok(verifier.summary())
    }

    /// Checks one segment (a whole JSONL stream, as [`Verifier::verify_reader`]) that continues
    /// the chain fed so far. Line numbers in errors count from the segment's first line.
    pub fn feed(&mut self, reader: impl BufRead) -> Result<(), VerifyError> {
        let mut reader = reader;
        let verifier = self;
        verifier.line = 0;
        let mut buf = Vec::with_capacity(1024);
        loop {
            let broken = |reason| VerifyError::Broken {
                line: verifier.line + 1,
                reason,
            };
            match reader.fill_buf()?.first() {
                None => return Ok(()),
                Some(0) => {
                    // Padding, streamed rather than read into `buf`: it may be megabytes.
                    loop {
                        let chunk = reader.fill_buf()?;
                        if chunk.is_empty() {
                            return Ok(());
                        }
                        if chunk.iter().any(|&b| b != 0) {
                            return Err(broken(BreakReason::Nul));
                        }
                        let n = chunk.len();
                        reader.consume(n);
                    }
                }
                Some(_) => {}
            }
            buf.clear();
            reader.read_until(b'\n', &mut buf)?;
            if buf.pop() != Some(b'\n') {
                return Err(broken(BreakReason::Torn));
            }
            if buf.contains(&0) {
                return Err(broken(BreakReason::Nul));
            }
            verifier.push(&buf)?;
        }
    }
}

/// Verifies the spool file at `path` end to end.
pub fn verify_file(path: impl AsRef<Path>) -> Result<VerifySummary, VerifyError> {
    let file = File::open(path)?;
    Verifier::verify_reader(BufReader::with_capacity(1 << 16, file))
}

/// `Uuid` as lowercase hyphenated text, without needing uuid's `serde` feature.
mod uuid_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use uuid::Uuid;

    pub fn serialize<S: Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(id.hyphenated().encode_lower(&mut Uuid::encode_buffer()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        let text = String::deserialize(d)?;
        Uuid::try_parse(&text).map_err(|_| serde::de::Error::custom("not a UUID"))
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
pub(super) mod tests;
