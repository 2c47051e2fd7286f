//! Sikka's wire format: the list envelope (`offset` is a page number; every number is a string;
//! `pagination.next` is `""` on the last page), the message envelope, the items the gateway
//! reads, and lenient parsers for Sikka's values (numbers as strings, zone-less date-times,
//! `"85603 second(s)"`, `"True"`/`"F"`). Item fields are all optional strings: Sikka omits, empties
//! and sometimes numbers them, and the documented examples fill them with placeholders.

use std::collections::BTreeMap;

use jiff::civil::{Date, DateTime, Time};
use serde::{Deserialize, Deserializer};

/// A string field that may come as a string, a number, a boolean or `null`; empty means absent.
pub(crate) fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(|v| match v {
        serde_json::Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(if b { "True" } else { "False" }.to_owned()),
        _ => None,
    }))
}

/// A count that may come as `"50"`, `50`, or a placeholder (`"xx"`), which reads as absent.
fn lenient_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(lenient(d)?.and_then(|s| s.parse().ok()))
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pagination {
    #[serde(default, deserialize_with = "lenient")]
    pub next: Option<String>,
}

/// `{"offset", "limit", "total_count", "execution_time", "pagination", "items"}`; `offset` is
/// a page number (the walker sends it), so only `total_count` and `next` are read back.
#[derive(Debug, Clone, Deserialize)]
pub struct ListEnvelope<T> {
    #[serde(default, deserialize_with = "lenient_count")]
    pub total_count: Option<u64>,
    #[serde(default)]
    pub pagination: Pagination,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T> ListEnvelope<T> {
    /// Whether another page follows: `next` is set, this page was not empty, and (when Sikka
    /// counted) fewer than `total_count` rows have been seen after `rows_so_far`.
    pub fn has_next(&self, rows_so_far: u64) -> bool {
        self.pagination.next.is_some()
            && !self.items.is_empty()
            && self.total_count.is_none_or(|total| rows_so_far < total)
    }
}

/// The message / error envelope; one documented example spells `long_message` `log_message`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Message {
    #[serde(default, deserialize_with = "lenient")]
    pub http_code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub error_code: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub short_message: Option<String>,
    #[serde(default, alias = "log_message", deserialize_with = "lenient")]
    pub long_message: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub more_information: Option<String>,
}

macro_rules! item {
    ($(#[$doc:meta])* $name:ident { $($field:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Deserialize)]
        pub struct $name {
            $(#[serde(default, deserialize_with = "lenient")] pub $field: Option<String>,)*
        }
    };
}

item!(
    /// `/patients` (with `fields=get_all` for `homephone`/`workphone`).
    PatientItem {
        patient_id, guarantor_id, firstname, lastname, preferred_name, birthdate, status, cell,
        homephone, workphone, email, provider_id,
    }
);

item!(
    /// `/appointments` (with `fields=get_all` for `operatory` and `cancelled`).
    AppointmentItem {
        appointment_sr_no, patient_id, provider_id, date, time, length, status, operatory,
        description, cancelled,
    }
);

item!(
    /// `/providers`.
    ProviderItem {
        provider_id, firstname, lastname, status, provider_type, specialty, speciality, is_hidden,
        practice_id,
    }
);

item!(
    /// `/operatories` (no id of its own: `operatory` is what appointments and writes use).
    OperatoryItem { operatory, is_hidden, practice_id }
);

item!(
    /// `/practices`.
    PracticeItem { practice_id, cust_id }
);

item!(
    /// `/practice_variables`.
    PracticeVariableItem { service_name, value }
);

item!(
    /// `/appointment_statuses`.
    AppointmentStatusItem { status }
);

item!(
    /// `/authorized_practices` (application level).
    AuthorizedPracticeItem {
        office_id, secret_key, practice_id, practice_name, practice_management_system,
        practice_management_system_version, domain, data_synchronization_date,
    }
);

item!(
    /// `POST /request_key` (both grants).
    RequestKeyAnswer { request_key, refresh_key, start_time, end_time, expires_in }
);

item!(
    /// `/writeback_status` items.
    WritebackStatusItem {
        id, is_completed, has_error, result, status, created_id,
    }
);

/// `/practice_schedule?fields=get_all`: `sunday_start_1 … saturday_end_3` and `*_holiday` are
/// kept by name in `days`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScheduleItem {
    #[serde(default, deserialize_with = "lenient")]
    pub practice_id: Option<String>,
    /// The first day of the week this row describes.
    #[serde(default, deserialize_with = "lenient")]
    pub date: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub resource_type: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    pub resource_id: Option<String>,
    #[serde(flatten)]
    pub days: BTreeMap<String, serde_json::Value>,
}

impl ScheduleItem {
    /// A day field (`monday_start_1`, `friday_holiday`), trimmed; empty reads as absent.
    pub fn day_field(&self, name: &str) -> Option<&str> {
        self.days
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// The leading integer of `"85603 second(s)"` or `"85603"`.
pub fn parse_expires_in(raw: &str) -> Option<u64> {
    let digits: String = raw
        .trim()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// `"True"`, `"T"`, `"Y"`, `"Yes"`, `"1"` (any case) and their opposites.
pub fn parse_flag(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "y" | "yes" | "1" => Some(true),
        "false" | "f" | "n" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// A zone-less date-time: `2020-09-29T00:00:00`, `2020-12-04 13:51:34`, fractional seconds, a
/// bare date (midnight), or `09/29/2020`.
pub fn parse_date_time(raw: &str) -> Option<DateTime> {
    let s = raw.trim();
    if let Ok(dt) = s.parse::<DateTime>() {
        return Some(dt);
    }
    if let Some((d, t)) = s.split_once(' ')
        && let (Some(date), Some(time)) = (parse_date(d), parse_time(t))
    {
        return Some(date.to_datetime(time));
    }
    parse_date(s).map(|d| d.to_datetime(Time::midnight()))
}

/// `2020-09-29`, the date part of `2020-09-29T00:00:00`, or US `09/29/2020`.
pub fn parse_date(raw: &str) -> Option<Date> {
    let s = raw.trim();
    let head = s.split(['T', ' ']).next().unwrap_or(s);
    if let Ok(d) = head.parse::<Date>() {
        return Some(d);
    }
    let mut parts = head.split('/');
    let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

/// A wall-clock time: `10:30`, `9:05`, `10:30:00`, `10:30 AM`, `1:30pm`, or the time of a
/// date-time (`1900-01-01T08:00:00`).
pub fn parse_time(raw: &str) -> Option<Time> {
    let s = raw.trim();
    if let Some((_, t)) = s.split_once('T') {
        return parse_time(t);
    }
    let lower = s.to_ascii_lowercase();
    let (clock, meridiem) = if let Some(c) = lower.strip_suffix("am") {
        (c.trim(), Some(false))
    } else if let Some(c) = lower.strip_suffix("pm") {
        (c.trim(), Some(true))
    } else {
        (lower.as_str(), None)
    };
    let mut parts = clock.split(':');
    let hour: i8 = parts.next()?.trim().parse().ok()?;
    let minute: i8 = parts.next()?.trim().parse().ok()?;
    let second: i8 = match parts.next() {
        Some(sec) => sec.split('.').next()?.trim().parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    let hour = match meridiem {
        Some(_) if !(1..=12).contains(&hour) => return None,
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
        None => hour,
    };
    Time::new(hour, minute, second, 0).ok()
}

/// The writeback id of an accepted write: `long_message` `"Id:275495"`, else `more_information`
/// `…/writeback_status?id=275495`.
pub fn writeback_id(message: &Message) -> Option<String> {
    fn token(rest: &str) -> Option<String> {
        let id: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        (!id.is_empty()).then_some(id)
    }
    let from_long = message.long_message.as_deref().and_then(|m| {
        let at = m.to_ascii_lowercase().find("id:")?;
        token(&m[at + 3..])
    });
    from_long.or_else(|| {
        let info = message.more_information.as_deref()?;
        let query = info.split_once('?')?.1;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("id="))
            .and_then(token)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};

    #[test]
    fn numbers_are_strings_and_placeholders_are_absent() {
        let page: ListEnvelope<serde_json::Value> = serde_json::from_str(
            r#"{"offset":"2","limit":50,"total_count":"xx","pagination":{"next":""},"items":[]}"#,
        )
        .unwrap();
        assert_eq!(page.total_count, None);
        let counted: ListEnvelope<serde_json::Value> =
            serde_json::from_str(r#"{"total_count": 9161, "items": [{}]}"#).unwrap();
        assert_eq!(counted.total_count, Some(9161));
        assert!(page.pagination.next.is_none());
    }

    #[test]
    fn expires_in_reads_the_leading_number() {
        assert_eq!(parse_expires_in("85603 second(s)"), Some(85603));
        assert_eq!(parse_expires_in(" 600"), Some(600));
        assert_eq!(parse_expires_in("expires in"), None);
    }

    #[test]
    fn dates_and_times_without_zone() {
        assert_eq!(
            parse_date_time("2020-09-29T00:00:00"),
            Some(date(2020, 9, 29).at(0, 0, 0, 0))
        );
        assert_eq!(
            parse_date_time("2020-12-04 13:51:34"),
            Some(date(2020, 12, 4).at(13, 51, 34, 0))
        );
        assert_eq!(parse_date("1984-12-10T00:00:00"), Some(date(1984, 12, 10)));
        assert_eq!(parse_date("12/10/1984"), Some(date(1984, 12, 10)));
        assert_eq!(parse_time("10:30"), Some(time(10, 30, 0, 0)));
        assert_eq!(parse_time("9:05:00"), Some(time(9, 5, 0, 0)));
        assert_eq!(parse_time("1:30 PM"), Some(time(13, 30, 0, 0)));
        assert_eq!(parse_time("12:00am"), Some(time(0, 0, 0, 0)));
        assert_eq!(parse_time("1900-01-01T08:00:00"), Some(time(8, 0, 0, 0)));
        for junk in ["date", "time", "", "25:00", "13:00 PM"] {
            assert_eq!(parse_time(junk), None, "{junk}");
            assert_eq!(parse_date_time(junk), None, "{junk}");
        }
    }

    #[test]
    fn writeback_id_from_either_place() {
        let both = Message {
            long_message: Some("Id:275495".into()),
            more_information: Some("https://api.sikkasoft.com/v4/writeback_status?id=999".into()),
            ..Message::default()
        };
        assert_eq!(writeback_id(&both).as_deref(), Some("275495"));
        let info_only = Message {
            long_message: Some("Appointment logged".into()),
            more_information: Some(
                "https://api.sikkasoft.com/v4/writeback_status?id=252550".into(),
            ),
            ..Message::default()
        };
        assert_eq!(writeback_id(&info_only).as_deref(), Some("252550"));
        assert_eq!(writeback_id(&Message::default()), None);
    }

    #[test]
    fn flags() {
        assert_eq!(parse_flag("True"), Some(true));
        assert_eq!(parse_flag("F"), Some(false));
        assert_eq!(parse_flag("is hidden"), None);
    }
}
