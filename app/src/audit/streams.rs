//! Checking the chain as it arrived in CloudWatch Logs: one stream per gateway task, one entry per
//! log event, in the stream's order. Unlike the spool's strict [`super::Verifier`], a stream is
//! checked *tolerantly*: it keeps going after a problem and reports all of them, and an entry
//! that arrives twice (the shipper retried a batch CloudWatch had in fact accepted) is counted as
//! a duplicate and otherwise ignored.
//!
//! Each entry must be well formed, canonical and hash to its own `hash` (as the spool's verifier
//! demands, through [`parse_line`]). Then, against the chain so far:
//! - the next `seq` whose `prev` is the previous entry's `hash`: the chain goes on;
//! - a `seq` already seen with the same `hash`: a [`StreamProblem::Duplicate`] (tolerated);
//! - a `seq` beyond the next: a [`StreamProblem::Gap`] (entries missing; the chain resumes from
//!   the entry found, whose link to the missing ones cannot be checked);
//! - anything else is [`StreamProblem::Broken`]: a `prev` that is not the previous hash, an entry
//!   altered after it was sealed, a `seq` seen before with another hash, or going backwards.
//!
//! A stream starts at the chain's start (`seq` 1, `prev` = [`GENESIS`](super::chain::GENESIS));
//! a stream starting later reports the missing start as a gap. [`StreamReport::intact`] is false
//! on any gap or broken entry; duplicates alone keep it intact.

use std::collections::HashMap;

use super::chain::{BreakReason, ChainHead, parse_line};

/// One problem found in a stream. Carries sequence numbers and positions, never entry content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamProblem {
    /// Entries `from..=to` are missing: the entry after `from - 1` came with `seq` `to + 1`.
    Gap { from: u64, to: u64 },
    /// The event at 1-based `position` in the stream breaks the chain.
    Broken {
        position: u64,
        /// The entry's `seq`, when it could be read.
        seq: Option<u64>,
        reason: BreakReason,
    },
    /// The event at `position` repeats the entry `seq` seen before (a retried batch).
    Duplicate { position: u64, seq: u64 },
}

impl std::fmt::Display for StreamProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gap { from, to } if from == to => write!(f, "gap: entry {from} is missing"),
            Self::Gap { from, to } => write!(f, "gap: entries {from} to {to} are missing"),
            Self::Broken {
                position,
                seq,
                reason,
            } => {
                write!(f, "broken at event {position}")?;
                if let Some(seq) = seq {
                    write!(f, " (seq {seq})")?;
                }
                write!(f, ": {reason}")
            }
            Self::Duplicate { position, seq } => {
                write!(f, "duplicate at event {position}: entry {seq} again")
            }
        }
    }
}

/// What one stream holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamReport {
    /// Log events read.
    pub events: u64,
    /// Distinct entries that continue the chain.
    pub entries: u64,
    pub problems: Vec<StreamProblem>,
}

impl StreamReport {
    /// No gap and no broken entry (duplicates are tolerated).
    pub fn intact(&self) -> bool {
        !self
            .problems
            .iter()
            .any(|p| matches!(p, StreamProblem::Gap { .. } | StreamProblem::Broken { .. }))
    }

    pub fn duplicates(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| matches!(p, StreamProblem::Duplicate { .. }))
            .count()
    }
}

/// Checks one stream's messages in order ([`StreamVerifier::push`]), then [`StreamVerifier::finish`].
#[derive(Debug, Default)]
pub struct StreamVerifier {
    head: ChainHead,
    /// seq → hash of every entry taken into the chain.
    seen: HashMap<u64, String>,
    report: StreamReport,
}

impl StreamVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next log event's message (one spool line, without newline).
    pub fn push(&mut self, message: &[u8]) {
        self.report.events += 1;
        let position = self.report.events;
        let broken = |seq, reason| StreamProblem::Broken {
            position,
            seq,
            reason,
        };
        let entry = match parse_line(message) {
            Ok(entry) => entry,
            Err(reason) => {
                self.report.problems.push(broken(None, reason));
                return;
            }
        };
        let sealed = super::chain::chain_hash(&entry.prev, &entry.body_bytes());
        if sealed != entry.hash.as_bytes() {
            // Altered after sealing. Its claimed hash still links the next entry, so the chain
            // goes on from it and this one problem is reported once.
            self.report
                .problems
                .push(broken(Some(entry.seq), BreakReason::HashMismatch));
            if entry.hash.len() == sealed.len() && entry.hash.bytes().all(|b| b.is_ascii_hexdigit())
            {
                self.take(&entry);
            }
            return;
        }
        if let Some(hash) = self.seen.get(&entry.seq) {
            let problem = if *hash == entry.hash {
                StreamProblem::Duplicate {
                    position,
                    seq: entry.seq,
                }
            } else {
                // Another entry under a number already taken: a forged or forked chain.
                broken(Some(entry.seq), BreakReason::PrevMismatch)
            };
            self.report.problems.push(problem);
            return;
        }
        let expected = self.head.next_seq;
        if entry.seq > expected {
            self.report.problems.push(StreamProblem::Gap {
                from: expected,
                to: entry.seq - 1,
            });
        } else if entry.seq < expected {
            self.report.problems.push(broken(
                Some(entry.seq),
                BreakReason::SeqGap {
                    expected,
                    found: entry.seq,
                },
            ));
            return;
        } else if entry.prev.as_bytes() != self.head.prev {
            self.report
                .problems
                .push(broken(Some(entry.seq), BreakReason::PrevMismatch));
        }
        self.take(&entry);
    }

    fn take(&mut self, entry: &super::AuditEntry) {
        self.seen.insert(entry.seq, entry.hash.clone());
        self.head = ChainHead::after(entry);
        self.report.entries += 1;
    }

    pub fn finish(self) -> StreamReport {
        self.report
    }

    /// The report of a whole stream of messages.
    pub fn check<'a>(messages: impl IntoIterator<Item = &'a [u8]>) -> StreamReport {
        let mut verifier = Self::new();
        for message in messages {
            verifier.push(message);
        }
        verifier.finish()
    }
}

#[cfg(test)]
#[path = "streams_tests.rs"]
mod tests;
