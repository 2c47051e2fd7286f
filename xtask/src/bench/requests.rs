//! The bench's requests: dates in the coming weeks (std only), Vapi tool-call bodies for the
//! sandbox practice, and Vapi's HMAC signature (`x-timestamp`, `x-signature`).

/// "Now" for the bench, whatever day it runs: a Monday, 08:00 at the sandbox practice. The
/// gateways and the emulator it starts get it as `GATEWAY_NOW`, so every run measures the
/// same calendar and nothing reads the wall clock.
pub const NOW: &str = "2030-01-07T16:00:00Z";
/// [`NOW`] in seconds since the Unix epoch.
const NOW_UNIX: u64 = 1_894_032_000;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// Sandbox patients (first, last, date of birth), active and not sharing a phone.
const PATIENTS: [(&str, &str, &str); 12] = [
    ("Olivia", "Bennett", "1985-03-14"),
    ("Liam", "Carter", "1979-11-02"),
    ("Emma", "Nguyen", "1992-06-21"),
    ("Noah", "Patel", "1968-01-30"),
    ("Ava", "Robinson", "2001-09-09"),
    ("Isabella", "Kim", "1974-12-19"),
    ("James", "Walker", "1958-07-07"),
    ("Mia", "Hernandez", "1996-05-28"),
    ("Benjamin", "Wright", "1988-10-15"),
    ("Charlotte", "Lopez", "1963-03-03"),
    ("Lucas", "Hill", "2004-01-22"),
    ("Amelia", "Scott", "1990-09-30"),
];

/// One signed tool call.
pub struct Signed {
    pub body: String,
    pub signature: String,
}

/// Signs bodies for one timestamp (the gateway tolerates 300 s of skew, the bench runs ~40 s).
pub struct Signer {
    pub secret: String,
    pub timestamp: String,
}

impl Signer {
    /// Signs as of [`NOW`], the instant the bench's gateways and emulator start their clocks at.
    pub fn now(secret: &str) -> Self {
        Signer {
            secret: secret.to_owned(),
            timestamp: NOW_UNIX.to_string(),
        }
    }

    /// `hex(hmac_sha256(secret, "{timestamp}.{body}"))`, Vapi's default scheme.
    pub fn sign(&self, body: String) -> Signed {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key length");
        mac.update(self.timestamp.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        Signed {
            signature: hex::encode(mac.finalize().into_bytes()),
            body,
        }
    }
}

fn tool_call(id: &str, name: &str, arguments: serde_json::Value) -> String {
    json!({"message": {
        "type": "tool-calls",
        "toolCallList": [{"id": id, "function": {"name": name, "arguments": arguments}}],
        "call": {"phoneNumberId": "pn_demo"},
        "assistant": {"metadata": {"accountId": "acct_demo"}},
    }})
    .to_string()
}

/// `check_availability` for `date` (`YYYY-MM-DD`), up to 20 openings.
pub fn check_availability_on(date: &str) -> String {
    tool_call(
        "call_bench",
        "check_availability",
        json!({"date": date, "max_results": 20}),
    )
}

/// `check_availability` for [`availability_date`], up to 20 openings.
pub fn check_availability() -> String {
    tool_call(
        "call_bench",
        "check_availability",
        json!({"date": availability_date(), "max_results": 20}),
    )
}

/// The day `check_availability` asks about: the first weekday 1–6 days ahead (`YYYY-MM-DD`).
pub fn availability_date() -> String {
    let today = today();
    let day = (1..=6)
        .map(|n| today + n)
        .find(|&d| weekday(d) < 5)
        .expect("a weekday within 6 days");
    iso_date(day)
}

/// `count` distinct bookings: weekday half-hour slots over the next five weeks, each round of
/// slots for another sandbox patient, each with its own toolCallId.
pub fn book_appointments(count: usize) -> Vec<String> {
    book_appointments_from(count, today())
}

/// [`book_appointments`] from `today` (days since 1970-01-01), for a gateway on the system clock.
pub fn book_appointments_from(count: usize, today: i64) -> Vec<String> {
    let times: Vec<String> = (8..12)
        .chain(13..17)
        .flat_map(|h| [format!("{h:02}:00"), format!("{h:02}:30")])
        .collect();
    let slots: Vec<(String, &str)> = (2..37)
        .map(|n| today + n)
        .filter(|&d| weekday(d) < 5)
        .flat_map(|d| times.iter().map(move |t| (iso_date(d), t.as_str())))
        .collect();
    (0..count)
        .map(|i| {
            let (date, time) = &slots[i % slots.len()];
            let (first, last, born) = PATIENTS[(i / slots.len()) % PATIENTS.len()];
            let arguments = json!({
                "first_name": first, "last_name": last, "date_of_birth": born,
                "date": date, "time": time, "reason": "cleaning",
            });
            tool_call(
                &format!("call_bench_book_{i}"),
                "book_appointment",
                arguments,
            )
        })
        .collect()
}

/// Days since 1970-01-01 (UTC) at [`NOW`].
fn today() -> i64 {
    (NOW_UNIX / 86_400) as i64
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// `YYYY-MM-DD` for days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn iso_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_and_weekdays() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(11_016), "2000-02-29");
        assert_eq!(iso_date(20_454), "2026-01-01");
        assert_eq!(weekday(20_454), 3, "2026-01-01 is a Thursday");
        assert_eq!(weekday(20_452), 1, "2025-12-30 is a Tuesday");
    }

    #[test]
    fn signs_like_vapi() {
        // printf '%s' '1700000000.{}' | openssl dgst -sha256 -hmac secret
        let signer = Signer {
            secret: "secret".into(),
            timestamp: "1700000000".into(),
        };
        assert_eq!(
            signer.sign("{}".into()).signature,
            "b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }

    #[test]
    fn bookings_are_distinct_visits() {
        let visits: std::collections::HashSet<String> = book_appointments(3000)
            .iter()
            .map(|body| {
                let v: serde_json::Value = serde_json::from_str(body).unwrap();
                let args = &v["message"]["toolCallList"][0]["function"]["arguments"];
                format!("{} {} {}", args["date"], args["time"], args["first_name"])
            })
            .collect();
        assert_eq!(visits.len(), 3000);
    }
}
