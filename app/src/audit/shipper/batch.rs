//! PutLogEvents' limits, which moto does not enforce, so the shipper does: a batch holds at most
//! [`MAX_EVENTS`] events and [`MAX_BATCH_BYTES`] bytes (each message's UTF-8 bytes plus
//! [`EVENT_OVERHEAD`]), its timestamps never decrease, and it spans less than [`MAX_SPAN_MS`].
//!
//! An entry's time never runs backwards along the chain (the spool clamps it), but a line is
//! never trusted for that: an entry earlier than the one before gets the previous timestamp (its
//! message, the line, keeps its real time).

/// Most events in one PutLogEvents call.
pub const MAX_EVENTS: usize = 10_000;
/// Most bytes in one call, counting each message's UTF-8 bytes plus [`EVENT_OVERHEAD`].
pub const MAX_BATCH_BYTES: usize = 1_048_576;
/// What CloudWatch adds to each message when it counts a batch's size.
pub const EVENT_OVERHEAD: usize = 26;
/// A batch's events must lie within 24 hours of each other; ours stay strictly below.
pub const MAX_SPAN_MS: i64 = 24 * 60 * 60 * 1000;

/// The counted size of one event whose message is `message_len` bytes.
pub fn counted_bytes(message_len: usize) -> usize {
    message_len + EVENT_OVERHEAD
}

/// The next batch from the front of `pending` (each an entry's time in ms and its message's
/// length): how many it takes and their timestamps. `floor` is the last timestamp sent (or
/// `i64::MIN`), so timestamps never decrease across batches either. Takes at least one event
/// when `pending` is not empty.
pub fn plan(pending: impl IntoIterator<Item = (i64, usize)>, floor: i64) -> Vec<i64> {
    let mut stamps = Vec::new();
    let mut bytes = 0usize;
    let mut last = floor;
    let mut first = None;
    for (time_ms, len) in pending {
        let stamp = time_ms.max(last);
        let size = counted_bytes(len);
        if let Some(first) = first
            && (stamps.len() >= MAX_EVENTS
                || bytes + size > MAX_BATCH_BYTES
                || stamp - first >= MAX_SPAN_MS)
        {
            break;
        }
        first.get_or_insert(stamp);
        bytes += size;
        last = stamp;
        stamps.push(stamp);
    }
    stamps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_earlier_entry_gets_the_previous_timestamp() {
        assert_eq!(
            plan([(1_000, 10), (900, 10), (1_100, 10)], i64::MIN),
            vec![1_000, 1_000, 1_100]
        );
        assert_eq!(plan([(500, 10)], 1_000), vec![1_000]);
    }

    #[test]
    fn a_batch_stops_before_any_limit() {
        assert_eq!(
            plan((0..20_000).map(|i| (i, 1)), i64::MIN).len(),
            MAX_EVENTS
        );
        let big = MAX_BATCH_BYTES / 4 - EVENT_OVERHEAD;
        assert_eq!(plan([(0, big); 5], i64::MIN).len(), 4);
        assert_eq!(plan([(0, big + 1); 5], i64::MIN).len(), 3);
        assert_eq!(
            plan([(0, 1), (MAX_SPAN_MS - 1, 1), (MAX_SPAN_MS, 1)], i64::MIN).len(),
            2
        );
    }
}
