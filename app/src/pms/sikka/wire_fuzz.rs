//! Property tests of the Sikka adapter's parsers with many cases: arbitrary bytes and Sikka's
//! documented answers (`tests/data/sikka/adapter-examples.json`) mutated byte by byte or value by
//! value go through every envelope, item converter, the schedule and the writeback readers
//! without a panic; the value parsers (dates, times, flags, `expires_in`, phones) read what they
//! promise; an error answer's description never carries the answer's free text; and rate-limit
//! headers of any value never panic the limiter.

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;

use super::convert;
use super::error::SikkaError;
use super::limiter::Limiter;
use super::schedule;
use super::transport::header_secs;
use super::wire::{self, *};
use crate::fuzz::{BODY_CASES, byte_edit, edit_bytes, replace_value, replacement};
use crate::pms::{PmsError, WritebackId};

const EXAMPLES: &str = include_str!("../../../../tests/data/sikka/adapter-examples.json");

#[derive(Deserialize)]
struct Example {
    body: String,
}

fn bodies() -> Vec<Value> {
    let all: Vec<Example> = serde_json::from_str(EXAMPLES).expect("adapter-examples.json");
    assert!(all.len() >= 40, "the documented answers are all there");
    all.iter()
        .map(|e| serde_json::from_str(&e.body).expect("a documented body is JSON"))
        .collect()
}

fn body() -> impl Strategy<Value = Value> {
    prop::sample::select(bodies())
}

fn list<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<T> {
    serde_json::from_slice::<ListEnvelope<T>>(bytes)
        .map(|page| {
            let _ = page.has_next(u64::MAX);
            page.items
        })
        .unwrap_or_default()
}

/// Everything the adapter does with a body Sikka sent, whatever it is.
fn read_everything(bytes: &[u8]) {
    for item in list::<AppointmentItem>(bytes) {
        let _ = convert::appointment(item.clone(), None);
        let _ = convert::appointment(item, Some("Cancelled"));
    }
    for item in list::<PatientItem>(bytes) {
        let _ = convert::patient(item);
    }
    for item in list::<ProviderItem>(bytes) {
        let _ = convert::provider(item);
    }
    for item in list::<OperatoryItem>(bytes) {
        let _ = convert::operatory(item);
    }
    for item in list::<AppointmentStatusItem>(bytes) {
        let _ = convert::appointment_status(item.status.as_deref(), None);
    }
    let _ = list::<PracticeItem>(bytes);
    let _ = list::<PracticeVariableItem>(bytes);
    let _ = list::<AuthorizedPracticeItem>(bytes);
    let rows = list::<ScheduleItem>(bytes);
    for day in 0..7 {
        let date = jiff::civil::date(2024, 6, 2) + jiff::Span::new().days(day);
        let _ = schedule::open_blocks(&rows, date);
    }
    if let Ok(message) = serde_json::from_slice::<Message>(bytes) {
        let _ = convert::accepted(&message);
        for status in [200, 204, 400, 401, 403, 404, 409, 412, 429, 500, 503] {
            let _ = PmsError::from(SikkaError::from_answer(status, Some(&message)));
        }
    }
    if let Ok(answer) = serde_json::from_slice::<RequestKeyAnswer>(bytes) {
        let now = jiff::Timestamp::from_second(1_790_000_000).unwrap();
        let _ = super::client::issued_key(&answer, now);
    }
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        let _ = convert::writeback_status(&value, &WritebackId::new("490481"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(BODY_CASES))]

    #[test]
    fn arbitrary_bytes_never_panic_a_parser(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        read_everything(&bytes);
    }

    #[test]
    fn mutated_documented_answers_never_panic_a_parser(
        body in body(),
        edits in prop::collection::vec(byte_edit(), 1..6),
    ) {
        read_everything(&edit_bytes(serde_json::to_vec(&body).unwrap(), &edits));
    }

    #[test]
    fn documented_answers_with_values_replaced_never_panic_a_parser(
        mut body in body(),
        edits in prop::collection::vec((any::<usize>(), replacement()), 1..4),
    ) {
        for (index, with) in &edits {
            replace_value(&mut body, *index, with);
        }
        read_everything(&serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn value_parsers_take_any_text(raw in "\\PC{0,40}|[0-9 :/APMapmT.-]{0,24}") {
        let _ = wire::parse_date_time(&raw);
        let _ = wire::parse_date(&raw);
        let _ = wire::parse_time(&raw);
        let _ = wire::parse_flag(&raw);
        let _ = convert::phone(&raw);
        let _ = convert::appointment_status(Some(&raw), Some(&raw));
        if wire::parse_expires_in(&raw).is_some() {
            prop_assert!(raw.trim().starts_with(|c: char| c.is_ascii_digit()));
        }
    }

    #[test]
    fn value_parsers_read_what_they_promise(
        y in 1900i16..2100, m in 1i8..=12, d in 1i8..=28,
        h in 0i8..24, min in 0i8..60, s in 0i8..60,
        secs in any::<u32>(),
    ) {
        let date = jiff::civil::date(y, m, d);
        let time = jiff::civil::time(h, min, s, 0);
        prop_assert_eq!(wire::parse_date(&format!("{y:04}-{m:02}-{d:02}")), Some(date));
        prop_assert_eq!(wire::parse_date(&format!("{m:02}/{d:02}/{y:04}")), Some(date));
        prop_assert_eq!(
            wire::parse_date_time(&format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}")),
            Some(date.to_datetime(time))
        );
        prop_assert_eq!(
            wire::parse_date_time(&format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}")),
            Some(date.to_datetime(time))
        );
        let (h12, meridiem) = match h { 0 => (12, "AM"), 1..=11 => (h, "AM"), 12 => (12, "PM"), _ => (h - 12, "pm") };
        prop_assert_eq!(wire::parse_time(&format!("{h12}:{min:02} {meridiem}")), Some(jiff::civil::time(h, min, 0, 0)));
        prop_assert_eq!(wire::parse_expires_in(&format!("{secs} second(s)")), Some(u64::from(secs)));
    }

    /// Errors are logged and audited: their text names codes and statuses, never what the
    /// answer's messages said (which can echo request values).
    #[test]
    fn an_error_answer_is_described_without_its_free_text(
        status in 100u16..600,
        code in prop::option::of(prop::sample::select(vec![
            "API1001", "API1004", "API1025", "API2002", "API2004", "API2005", "API2007",
            "API2009", "API2010", "API2017", "API3001", "API4001", "XYZ",
        ])),
        words in "[a-z ]{0,20}",
    ) {
        let marker = format!("Patient Ada Lovelace {words} 1815-12-10");
        let message = Message {
            http_code: Some(status.to_string()),
            error_code: code.map(str::to_owned),
            short_message: Some(marker.clone()),
            long_message: Some(marker.clone()),
            more_information: Some(marker.clone()),
        };
        let error = SikkaError::from_answer(status, Some(&message));
        prop_assert!(!error.to_string().contains("Lovelace"), "{}", error);
        prop_assert!(!PmsError::from(error).to_string().contains("Lovelace"));
    }

    #[test]
    fn a_writeback_id_is_read_from_either_place(id in "[A-Za-z0-9-]{1,20}", junk in "[ ,;]\\PC{0,10}") {
        let long = Message { long_message: Some(format!("Id:{id}{junk}")), ..Message::default() };
        prop_assert_eq!(wire::writeback_id(&long), Some(id.clone()));
        let info = Message {
            more_information: Some(format!("https://api.sikkasoft.com/v4/writeback_status?x=1&id={id}")),
            ..Message::default()
        };
        prop_assert_eq!(wire::writeback_id(&info), Some(id));
    }

    /// `X-Rate-Limit-Reset` / `Retry-After` of any value, epoch times and exponents included,
    /// is read without a panic and never pauses the practice for more than an hour.
    #[test]
    fn rate_limit_headers_of_any_value_never_panic(
        raw in "\\PC{0,24}|-?[0-9]{1,25}(\\.[0-9]{0,6})?|[0-9]e[0-9]{1,3}|inf|NaN",
    ) {
        let Ok(value) = HeaderValue::from_str(&raw) else { return Ok(()) };
        let mut headers = HeaderMap::new();
        headers.insert("x-rate-limit-reset", value);
        if let Some(reset) = header_secs(&headers, "x-rate-limit-reset", jiff::Timestamp::UNIX_EPOCH) {
            prop_assert!(reset <= std::time::Duration::from_secs(3600), "{raw}: {reset:?}");
            Limiter::new(240).pause_for(reset);
        }
    }
}

#[test]
fn every_documented_answer_is_read() {
    let bodies = bodies();
    for body in &bodies {
        read_everything(&serde_json::to_vec(body).unwrap());
    }
    // The read really happens: the documented appointment converts.
    let appointments: Vec<AppointmentItem> = list(&serde_json::to_vec(&bodies[0]).unwrap());
    assert_eq!(
        convert::appointment(appointments[0].clone(), None)
            .unwrap()
            .id
            .as_str(),
        "70670"
    );
}

/// Found by `rate_limit_headers_of_any_value_never_panic`: `1e20` panicked converting to a
/// `Duration`, and a reset of decades overflowed the limiter's `Instant`.
#[test]
fn an_absurd_rate_limit_reset_is_a_bounded_pause_not_a_panic() {
    for raw in ["1e20", "1e19", "18446744073709551615", "99999999999999"] {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static(raw));
        let now: jiff::Timestamp = "2027-03-14T16:55:00Z".parse().unwrap();
        let reset = header_secs(&headers, "retry-after", now).expect("a number is a reset");
        assert_eq!(reset, std::time::Duration::from_secs(3600), "{raw}");
        Limiter::new(240).pause_for(reset);
    }
    Limiter::new(240).pause_for(std::time::Duration::MAX);
}

/// A reset given as a Unix time is the time until then; one in the past is no wait at all.
#[test]
fn a_reset_given_as_a_unix_time_waits_until_then() {
    let now: jiff::Timestamp = "2027-03-14T16:55:00Z".parse().unwrap();
    let at = |secs: i64| {
        let mut headers = HeaderMap::new();
        let value = (now.as_second() + secs).to_string();
        headers.insert("x-rate-limit-reset", HeaderValue::from_str(&value).unwrap());
        header_secs(&headers, "x-rate-limit-reset", now).unwrap()
    };
    assert_eq!(at(30), std::time::Duration::from_secs(30));
    assert_eq!(at(-30), std::time::Duration::ZERO);
    assert_eq!(at(86_400 * 365 * 20), std::time::Duration::from_secs(3600));
}
