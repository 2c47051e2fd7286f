//! How things are said to the assistant: dates and times as a receptionist reads them aloud,
//! and honest sentences for what the practice's system did or could not do.

use jiff::civil::{Date, DateTime, Time};

use crate::pms::PmsError;

/// "Tuesday, December 1"
pub fn day(date: Date) -> String {
    date.strftime("%A, %B %-d").to_string()
}

/// "today, Monday, November 30", "tomorrow, Tuesday, December 1" or "Wednesday, December 2":
/// a date as said on `today` (the practice's own date).
pub fn day_from(date: Date, today: Date) -> String {
    let said = day(date);
    if date == today {
        format!("today, {said}")
    } else if today.tomorrow().is_ok_and(|t| t == date) {
        format!("tomorrow, {said}")
    } else {
        said
    }
}

/// "9:00 AM"
pub fn clock(time: Time) -> String {
    time.strftime("%-I:%M %p").to_string()
}

/// "Tuesday, December 1 at 9:00 AM"
pub fn when(at: DateTime) -> String {
    format!("{} at {}", day(at.date()), clock(at.time()))
}

/// `09:00` — for compact JSON the model can pass back.
pub fn hhmm(time: Time) -> String {
    format!("{:02}:{:02}", time.hour(), time.minute())
}

/// What to tell the assistant when the practice's system fails; never blames the caller.
pub fn pms_failure(err: &PmsError) -> String {
    match err {
        PmsError::NotFound => "That record was not found in the practice's system.".into(),
        PmsError::Unsupported(what) => format!(
            "The practice's system does not support {what} by phone. Offer to transfer the caller to the front desk."
        ),
        PmsError::Offline => "The practice's scheduling system is offline right now, so no changes can be made. Apologise, and offer to transfer the caller or have the office call back.".into(),
        PmsError::Conflict => "That record already exists in the practice's system.".into(),
        PmsError::Rejected(why) => format!("The practice's system refused the request: {why}."),
        PmsError::RateLimited | PmsError::Transient(_) => "The practice's system is not answering right now. Apologise, and offer to try again in a moment or to transfer the caller.".into(),
        PmsError::Misconfigured(_) => "This practice's connection needs attention from staff. Apologise and offer to transfer the caller to the front desk.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_like_speech() {
        let at = jiff::civil::date(2026, 12, 1).at(9, 0, 0, 0);
        assert_eq!(when(at), "Tuesday, December 1 at 9:00 AM");
        assert_eq!(clock(jiff::civil::time(14, 30, 0, 0)), "2:30 PM");
        assert_eq!(hhmm(jiff::civil::time(9, 5, 0, 0)), "09:05");
    }
}
