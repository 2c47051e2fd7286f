//! The shipper's counters and its shipping-lag histogram (durable → accepted), for metrics and
//! the benchmark.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Buckets of the lag histogram: bucket `i` counts entries whose lag was in `[2^i, 2^(i+1))` µs.
pub const LAG_BUCKETS: usize = 32;

/// A snapshot of what the shipper has done since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipperStats {
    /// Entries the destination accepted.
    pub shipped: u64,
    /// Batches the destination accepted.
    pub batches: u64,
    /// Entries the destination rejected (too old, too new, expired), now in the dead-letter file.
    pub dead_letters: u64,
    /// Failed attempts that were retried (retryable and fatal).
    pub retries: u64,
    /// Attempts refused with a fatal error.
    pub fatal_errors: u64,
    /// The last durable seq the shipper saw.
    pub durable_seq: u64,
    /// The last seq accepted (or dead-lettered).
    pub shipped_seq: u64,
    /// `durable_seq - shipped_seq`.
    pub backlog: u64,
    /// How old (by the entry's time) the oldest unshipped entry the shipper has read is.
    pub oldest_unshipped_age: Option<Duration>,
    /// Entries by lag from durable to accepted (see [`LAG_BUCKETS`]).
    pub lag_us: [u64; LAG_BUCKETS],
}

impl ShipperStats {
    /// An upper bound (the bucket's end) of the `q` quantile of the shipping lag.
    pub fn lag_quantile(&self, q: f64) -> Duration {
        let total: u64 = self.lag_us.iter().sum();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, n) in self.lag_us.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Duration::from_micros(2u64 << i);
            }
        }
        Duration::MAX
    }
}

/// The moments seqs became durable, to charge each entry its lag once it is accepted.
#[derive(Debug)]
pub struct LagClock {
    /// `(last seq of a durable batch, when the shipper learned of it)`, ascending.
    marks: VecDeque<(u64, Instant)>,
    /// The last seq whose lag is counted.
    counted: u64,
    pub histogram: [u64; LAG_BUCKETS],
}

impl LagClock {
    pub fn new(shipped: u64) -> Self {
        Self {
            marks: VecDeque::new(),
            counted: shipped,
            histogram: [0; LAG_BUCKETS],
        }
    }

    /// Seqs up to `durable` are durable now.
    pub fn durable(&mut self, durable: u64, now: Instant) {
        let last = self.marks.back().map_or(self.counted, |m| m.0);
        if durable > last {
            self.marks.push_back((durable, now));
        }
    }

    /// Seqs up to `shipped` are accepted now.
    pub fn shipped(&mut self, shipped: u64, now: Instant) {
        while let Some(&(hi, at)) = self.marks.front() {
            let upto = hi.min(shipped);
            if upto > self.counted {
                let us = u64::try_from(now.duration_since(at).as_micros()).unwrap_or(u64::MAX);
                let bucket = (us.max(1).ilog2() as usize).min(LAG_BUCKETS - 1);
                self.histogram[bucket] += upto - self.counted;
                self.counted = upto;
            }
            if hi <= shipped {
                self.marks.pop_front();
            } else {
                break;
            }
        }
        self.counted = self.counted.max(shipped);
    }
}
