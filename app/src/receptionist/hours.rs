//! The practice's opening hours as the port shows them: a day's open blocks (any provider's)
//! are the hours the office is staffed. Used to decide whether a transfer can reach anyone and
//! when a caller who left a message can expect a call back.

use jiff::{
    ToSpan,
    civil::{Date, DateTime, Time},
};

use super::words;
use crate::pms::{OpenBlock, PmsResult, PracticeSystem};

/// How many days ahead the next opening is looked for.
pub const LOOKAHEAD_DAYS: i64 = 14;

/// Whether the office is open at a given moment, or when it opens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hours {
    Open,
    /// Closed; `next` is the next opening within [`LOOKAHEAD_DAYS`] (practice-local), if any.
    Closed {
        next: Option<DateTime>,
    },
}

impl Hours {
    /// "opens again today, Monday, November 30 at 8:00 AM" (said on `today`), or that no opening
    /// is scheduled soon.
    pub fn reopening(&self, today: Date) -> String {
        match self {
            Hours::Open => "is open now".into(),
            Hours::Closed { next: Some(at) } => format!(
                "opens again {} at {}",
                words::day_from(at.date(), today),
                words::clock(at.time())
            ),
            Hours::Closed { next: None } => {
                format!("has no opening hours scheduled in the next {LOOKAHEAD_DAYS} days")
            }
        }
    }
}

/// The practice's hours at `now` (its local date and time).
pub async fn at(pms: &dyn PracticeSystem, now: DateTime) -> PmsResult<Hours> {
    let today = now.date();
    let blocks = pms.open_blocks(today).await?;
    if open_within(&blocks, now.time()) {
        return Ok(Hours::Open);
    }
    if let Some(start) = next_start(&blocks, Some(now.time())) {
        return Ok(Hours::Closed {
            next: Some(today.to_datetime(start)),
        });
    }
    for offset in 1..=LOOKAHEAD_DAYS {
        let Ok(day) = today.checked_add(offset.days()) else {
            break;
        };
        if let Some(start) = next_start(&pms.open_blocks(day).await?, None) {
            return Ok(Hours::Closed {
                next: Some(day.to_datetime(start)),
            });
        }
    }
    Ok(Hours::Closed { next: None })
}

/// Open when `time` is inside a block. A block ending at 23:59 runs to midnight: a schedule
/// (the PMS's, the sandbox's) cannot say 24:00, and its last minute is not a closing.
fn open_within(blocks: &[OpenBlock], time: Time) -> bool {
    let last_minute = Time::constant(23, 59, 0, 0);
    (blocks.iter()).any(|b| b.start <= time && (time < b.end || b.end >= last_minute))
}

/// The earliest block start (after `after`, when given).
fn next_start(blocks: &[OpenBlock], after: Option<Time>) -> Option<Time> {
    blocks
        .iter()
        .map(|b| b.start)
        .filter(|start| after.is_none_or(|t| *start > t))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::time;

    fn block(start: Time, end: Time) -> OpenBlock {
        OpenBlock {
            provider_id: None,
            start,
            end,
        }
    }

    #[test]
    fn open_means_inside_a_block_and_the_next_start_is_after_now() {
        let blocks = [
            block(time(8, 0, 0, 0), time(12, 0, 0, 0)),
            block(time(13, 0, 0, 0), time(17, 0, 0, 0)),
        ];
        assert!(open_within(&blocks, time(8, 0, 0, 0)));
        assert!(!open_within(&blocks, time(12, 30, 0, 0)));
        assert!(!open_within(&blocks, time(17, 0, 0, 0)));
        assert_eq!(
            next_start(&blocks, Some(time(12, 30, 0, 0))),
            Some(time(13, 0, 0, 0))
        );
        assert_eq!(next_start(&blocks, Some(time(17, 0, 0, 0))), None);
        assert_eq!(next_start(&blocks, None), Some(time(8, 0, 0, 0)));
    }

    #[test]
    fn a_block_ending_at_23_59_is_open_until_midnight() {
        let all_day = [block(time(0, 0, 0, 0), time(23, 59, 0, 0))];
        assert!(open_within(&all_day, time(0, 0, 0, 0)));
        assert!(open_within(&all_day, time(23, 59, 30, 0)));
        let evening = [block(time(18, 0, 0, 0), time(23, 0, 0, 0))];
        assert!(!open_within(&evening, time(23, 30, 0, 0)));
    }

    #[test]
    fn the_reopening_is_said_from_today() {
        let today = jiff::civil::date(2026, 11, 30);
        let next = Hours::Closed {
            next: Some(jiff::civil::date(2026, 12, 1).at(8, 0, 0, 0)),
        };
        assert_eq!(
            next.reopening(today),
            "opens again tomorrow, Tuesday, December 1 at 8:00 AM"
        );
    }
}
