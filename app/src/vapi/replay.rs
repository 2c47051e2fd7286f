//! Replay protection: a bounded memory of the signatures already accepted. A signed request is
//! valid while its timestamp is within the skew window either side of now, so a signature is
//! remembered for twice that window; a second request carrying it inside the window is a replay.
//! When full, the least recently used signatures go first (the bound is on memory, not on time).

use std::time::Duration;

/// Signatures seen within the window, keyed by the MAC's bytes.
pub struct SeenSignatures {
    cache: moka::sync::Cache<Box<[u8]>, ()>,
}

/// How many signatures are remembered at most (about 100 bytes each).
pub const SEEN_CAPACITY: u64 = 500_000;

impl SeenSignatures {
    /// Remembers each signature for `2 × max_skew`: the whole time its timestamp stays fresh.
    pub fn new(max_skew: Duration) -> Self {
        Self::with_capacity(max_skew, SEEN_CAPACITY)
    }

    pub fn with_capacity(max_skew: Duration, capacity: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(max_skew.saturating_mul(2).max(Duration::from_secs(1)))
                .build(),
        }
    }

    /// `true` the first time `mac` is presented; `false` for every later time within the window.
    pub fn first_use(&self, mac: &[u8]) -> bool {
        self.cache.entry(Box::from(mac)).or_insert(()).is_fresh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_accepted_once() {
        let seen = SeenSignatures::new(Duration::from_secs(300));
        assert!(seen.first_use(b"mac-1"));
        assert!(!seen.first_use(b"mac-1"));
        assert!(seen.first_use(b"mac-2"));
    }
}
