//! What a save writes when another task wrote the same practice's secret in between.
//!
//! A save is first [`merge_record`] on the record it read (the `base`): known fields overwrite,
//! `None` tokens and unknown fields stay. If the secret changed before our write took (the
//! compare-and-swap in `mod.rs` failed), the newer record (the `winner`) is re-read and our save is
//! re-applied to it as a *change*, field by field:
//! - a field our save did not change (equal to the base) keeps the winner's value;
//! - a field only our save changed takes our value;
//! - the tokens (`request_key`, `refresh_key`, `expires_at`) that both sides changed go to the
//!   side whose `expires_at` is later (the newer grant; a side without one counts as oldest; on a
//!   tie, ours);
//! - any other field both changed takes our value (the last writer wins, as with one store).
//!
//! So two tasks that each refreshed the practice's key keep the later key, and a token refresh
//! racing a revocation keeps both the new key and the revocation.

use serde_json::{Map, Value};

use crate::pms::sikka::{SikkaCredentials, StoreError};
use crate::practices::merge_record;

const TOKENS: [&str; 3] = ["request_key", "refresh_key", "expires_at"];

/// One save, ready to be applied to whatever record is current.
pub(super) struct Change {
    /// The record we read before our first attempt (`None`: there was no secret).
    base: Map<String, Value>,
    /// `merge_record(base, creds)`: what we write when nobody wrote in between.
    ours: Map<String, Value>,
}

impl Change {
    pub(super) fn new(base: Option<Value>, creds: &SikkaCredentials) -> Result<Self, StoreError> {
        let base = as_object(base)?;
        let ours = as_object(Some(merge_record(
            Some(Value::Object(base.clone())),
            creds,
        )?))?;
        Ok(Self { base, ours })
    }

    /// The record to write over `current`. On the first attempt `current` is the base, so this
    /// is exactly `merge_record(base, creds)`.
    pub(super) fn apply(&self, current: Option<Value>) -> Result<Value, StoreError> {
        let mut winner = as_object(current)?;
        let changed = |key: &str| self.ours.get(key) != self.base.get(key);
        let they_changed = |winner: &Map<String, Value>, key: &str| {
            winner.get(key) != self.base.get(key) && winner.get(key) != self.ours.get(key)
        };
        let tokens_to_us = !TOKENS
            .iter()
            .any(|k| changed(k) && they_changed(&winner, k))
            || expiry(&self.ours) >= expiry(&winner);
        for (key, value) in &self.ours {
            if !changed(key) || (TOKENS.contains(&key.as_str()) && !tokens_to_us) {
                continue;
            }
            winner.insert(key.clone(), value.clone());
        }
        Ok(Value::Object(winner))
    }
}

fn as_object(record: Option<Value>) -> Result<Map<String, Value>, StoreError> {
    match record {
        None => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(StoreError::Corrupt("record is not a JSON object".into())),
    }
}

/// `expires_at` of a record, `None` when absent or not a timestamp (older than any).
fn expiry(record: &Map<String, Value>) -> Option<jiff::Timestamp> {
    record.get("expires_at")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pms::OfficeId, secret::Secret};
    use serde_json::json;

    fn base() -> Value {
        json!({"office_id": "D1", "secret_key": "s", "request_key": "k0", "refresh_key": "r0",
               "expires_at": "2030-01-01T00:00:00Z", "revoked": false, "note": "kept"})
    }

    fn creds(request: &str, expires: &str) -> SikkaCredentials {
        let mut c = SikkaCredentials::new(OfficeId::new("D1"), Secret::new("s"));
        c.request_key = Some(Secret::new(request));
        c.refresh_key = Some(Secret::new(format!("r-{request}")));
        c.expires_at = Some(expires.parse().unwrap());
        c
    }

    #[test]
    fn without_a_conflict_it_is_merge_record() {
        let c = creds("k1", "2030-01-02T00:00:00Z");
        let change = Change::new(Some(base()), &c).unwrap();
        assert_eq!(
            change.apply(Some(base())).unwrap(),
            merge_record(Some(base()), &c).unwrap()
        );
    }

    #[test]
    fn the_later_tokens_win_whoever_writes_last() {
        let older = creds("k-older", "2030-01-02T00:00:00Z");
        let newer = creds("k-newer", "2030-01-03T00:00:00Z");
        let winner_newer = merge_record(Some(base()), &newer).unwrap();
        let change = Change::new(Some(base()), &older).unwrap();
        let got = change.apply(Some(winner_newer.clone())).unwrap();
        assert_eq!(got["request_key"], "k-newer");
        assert_eq!(got["refresh_key"], "r-k-newer");
        let winner_older = merge_record(Some(base()), &older).unwrap();
        let got = Change::new(Some(base()), &newer)
            .unwrap()
            .apply(Some(winner_older))
            .unwrap();
        assert_eq!(got["request_key"], "k-newer");
        assert_eq!(got["expires_at"], "2030-01-03T00:00:00Z");
    }

    #[test]
    fn fields_only_one_side_changed_are_kept_from_that_side() {
        let mut revoked: SikkaCredentials = serde_json::from_value(base()).unwrap();
        revoked.revoked = true;
        let winner = merge_record(Some(base()), &creds("k1", "2030-01-02T00:00:00Z")).unwrap();
        let got = Change::new(Some(base()), &revoked)
            .unwrap()
            .apply(Some(winner))
            .unwrap();
        assert_eq!(got["revoked"], true, "our change");
        assert_eq!(got["request_key"], "k1", "their change");
        assert_eq!(got["note"], "kept");
    }

    #[test]
    fn a_record_that_is_not_an_object_is_corrupt() {
        assert!(matches!(
            Change::new(Some(json!(["x"])), &creds("k", "2030-01-01T00:00:00Z")),
            Err(StoreError::Corrupt(_))
        ));
    }
}
