//! Replay protection: a bounded memory of the signatures already accepted. A signed request is
//! valid while its timestamp is within the skew window either side of now, so a signature is
//! remembered for twice that window; a second request carrying it inside the window is a replay.
//! When full, the least recently used signatures go first (the bound is on memory, not on time).
//!
//! With several tasks, a signature accepted by one must be refused by every other: after this
//! task's own check, the shared store ([`SharedSeen`], the `aws` profile's table) is asked too.
//! When the store cannot answer, this task's memory alone decides (counted and logged): tool
//! calls keep being answered, and a replay to the same task is still refused.

use std::{sync::Arc, time::Duration};

use crate::state::SharedSeen;

/// Signatures seen within the window, keyed by the MAC's bytes.
pub struct SeenSignatures {
    cache: moka::sync::Cache<Box<[u8]>, ()>,
    window: Duration,
    shared: Option<Arc<dyn SharedSeen>>,
}

/// How many signatures are remembered at most (about 100 bytes each).
pub const SEEN_CAPACITY: u64 = 500_000;

impl SeenSignatures {
    /// Remembers each signature for `2 × max_skew`: the whole time its timestamp stays fresh.
    pub fn new(max_skew: Duration) -> Self {
        Self::with_capacity(max_skew, SEEN_CAPACITY)
    }

    pub fn with_capacity(max_skew: Duration, capacity: u64) -> Self {
        let window = max_skew.saturating_mul(2).max(Duration::from_secs(1));
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
            window,
            shared: None,
        }
    }

    /// Also asks `shared` (the other tasks' memory) about every signature.
    pub fn shared(self, shared: Option<Arc<dyn SharedSeen>>) -> Self {
        Self { shared, ..self }
    }

    /// `true` when no other task accepted `mac` within the window (or the shared store cannot
    /// say). Asked after [`Self::first_use`] accepted it here.
    pub async fn first_use_anywhere(&self, mac: &[u8]) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        shared.first_use(mac, self.window).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "shared signature memory unavailable; this task's decides");
            true
        })
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
