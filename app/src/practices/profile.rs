//! A practice's profile: who it is, where it is (its IANA time zone), how calls reach a human,
//! and the booking rules the receptionist applies.

use jiff::tz::TimeZone;

use crate::clock::Clock;
use crate::pms::{AccountId, E164};

/// The booking rules of one practice. Defaults suit a general dental office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingPolicy {
    /// Length of a visit when the caller does not say (minutes).
    pub default_length_minutes: u32,
    /// Slots start on multiples of this many minutes past the hour.
    pub slot_step_minutes: u32,
    /// No slot starts sooner than this after now (minutes).
    pub min_notice_minutes: u32,
    /// How far ahead a caller may book (days).
    pub horizon_days: u32,
    /// When the requested day is full, how many later days to offer (one slot each).
    pub alternative_days: u32,
    /// How many days after a full day to search for those alternatives.
    pub search_days: u32,
}

impl Default for BookingPolicy {
    fn default() -> Self {
        Self {
            default_length_minutes: 30,
            slot_step_minutes: 15,
            min_notice_minutes: 60,
            horizon_days: 120,
            alternative_days: 3,
            search_days: 21,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PracticeProfile {
    pub account_id: AccountId,
    pub name: String,
    pub time_zone: TimeZone,
    /// Where `transfer_to_human` sends the caller; `None` means no one can take a transfer.
    pub transfer_number: Option<E164>,
    /// Where messages for the front desk are texted (`take_message`); `None`: they are only
    /// kept for `GET /practices/{id}/messages`.
    pub staff_sms_number: Option<E164>,
    pub booking: BookingPolicy,
}

impl PracticeProfile {
    /// Now at the practice: the instant `clock` reads, in the practice's time zone (its civil
    /// time and date follow the zone's rules, DST changes included).
    pub fn now(&self, clock: &Clock) -> jiff::ZonedDateTime {
        clock.now().to_zoned_datetime(self.time_zone.clone())
    }
}
