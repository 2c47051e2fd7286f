//! What availability offers, booking accepts; what it does not offer, booking refuses with other
//! times — for every provider, day and length, over generated weekly schedules in which
//! providers work different days and hours, on both backends (the sandbox, and Sikka serving
//! the schedule as a practice row and one row per provider).

use gateway::pms::sandbox::WEEKDAYS;
use gateway_tests::{Backend, Caller, TestApp, both, fixture};
use jiff::ToSpan;
use jiff::civil::{Date, Time};
use serde_json::{Value, json};

const PROVIDERS: [&str; 3] = [fixture::DR_LEE, fixture::DR_ORTIZ, fixture::HYGIENIST];
/// Generated schedules per backend; each is a gateway of its own.
const SCHEDULES: u64 = 3;

/// A small deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A provider's working hours by weekday, Monday first, in minutes from midnight.
type Week = [Vec<(u64, u64)>; 7];

/// Minutes from midnight, as `HH:MM`.
fn hhmm(minutes: u64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Each provider works some days, each such day one or two blocks within the practice's hours
/// (08:00–12:00 and 13:00–17:00), starting and ending on the quarter hour.
fn generate(seed: u64) -> (Value, Vec<Week>) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut file = serde_json::Map::new();
    let mut hours: Vec<Week> = Vec::new();
    for provider in PROVIDERS {
        let mut week: Week = Default::default();
        for (day, blocks) in week.iter_mut().enumerate() {
            if rng.below(7) < 3 {
                continue; // not working that day
            }
            for (open, close) in [(8 * 60, 12 * 60), (13 * 60, 17 * 60)] {
                if rng.below(4) == 0 {
                    continue;
                }
                let start = open + 15 * rng.below(8);
                let end = (close - 15 * rng.below(8)).max(start + 60);
                blocks.push((start, end.min(close)));
            }
            let day_blocks = file
                .entry(WEEKDAYS[day])
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .unwrap();
            for &(s, e) in blocks.iter() {
                day_blocks.push(json!({"provider_id": provider, "start": hhmm(s), "end": hhmm(e)}));
            }
        }
        hours.push(week);
    }
    (Value::Object(file), hours)
}

fn minutes(t: &str) -> u64 {
    let t: Time = t.parse().unwrap();
    u64::from(t.hour() as u8) * 60 + u64::from(t.minute() as u8)
}

fn weekday_index(d: Date) -> usize {
    d.weekday().to_monday_zero_offset() as usize
}

async fn availability_and_booking_agree_on_generated_schedules(backend: Backend) {
    let (mut bookings, mut refusals) = (0, 0);
    for seed in 1..=SCHEDULES {
        let (file, hours) = generate(seed);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("schedule.json");
        std::fs::write(&path, file.to_string()).unwrap();
        let app = TestApp::spawn_on(backend, &[("SANDBOX_SCHEDULE", path.to_str().unwrap())]).await;
        let today = fixture::today();
        for (p, provider) in PROVIDERS.iter().enumerate() {
            let (mut booked, mut refused_a_day_off) = (false, false);
            for offset in 1..=8 {
                let day = today + offset.days();
                let works = &hours[p][weekday_index(day)];
                for length in [30, 60] {
                    let v = app
                        .tool(
                            "check_availability",
                            json!({"date": day.to_string(), "provider_id": provider,
                                   "length_minutes": length, "max_results": 20}),
                            &Caller::default(),
                        )
                        .await
                        .json();
                    let slots = v["slots"].as_array().cloned().unwrap_or_default();
                    let context = format!("seed {seed}, {provider} on {day}, {length} min: {v}");
                    if works.is_empty() {
                        assert!(slots.is_empty(), "offered on a day off: {context}");
                    }
                    for slot in &slots {
                        assert_eq!(slot["provider_id"], *provider, "{context}");
                        let start = minutes(slot["time"].as_str().unwrap());
                        assert!(
                            works
                                .iter()
                                .any(|&(s, e)| s <= start && start + length <= e),
                            "offered outside the provider's hours: {context}"
                        );
                    }
                    // Alternatives are offers too: only on days the provider works.
                    for alt in v["alternatives"].as_array().cloned().unwrap_or_default() {
                        let on: Date = alt["date"].as_str().unwrap().parse().unwrap();
                        assert!(!hours[p][weekday_index(on)].is_empty(), "{context}");
                    }
                    // The last offer of the first length on the provider's first open day is
                    // booked; it must be accepted.
                    if let Some(last) = slots.last()
                        && length == 30
                        && !booked
                    {
                        let caller = new_patient(&app, seed, p).await;
                        let answer = app
                            .tool(
                                "book_appointment",
                                json!({"date": day.to_string(), "time": last["time"],
                                       "provider_id": provider, "length_minutes": length}),
                                &caller,
                            )
                            .await;
                        assert!(answer.ok().contains("Booked"), "{context}: {answer:?}");
                        booked = true;
                        bookings += 1;
                    }
                }
                // A day off: a booking there is refused, with other times.
                if works.is_empty() && !refused_a_day_off {
                    let caller = new_patient(&app, seed, 3 + p).await;
                    let answer = app
                        .tool(
                            "book_appointment",
                            json!({"date": day.to_string(), "time": "10:00", "provider_id": provider}),
                            &caller,
                        )
                        .await;
                    let said = answer.err();
                    assert!(
                        said.contains("not available"),
                        "seed {seed}, {provider} on {day} (a day off): {said}"
                    );
                    refused_a_day_off = true;
                    refusals += 1;
                }
            }
        }
    }
    // The generated schedules did exercise both halves of the rule.
    assert!(
        bookings >= SCHEDULES && refusals >= 1,
        "{bookings} bookings, {refusals} refusals"
    );
}

/// New patient `n` (0 to 5) of this gateway, verified by their own number.
async fn new_patient(app: &TestApp, seed: u64, n: usize) -> Caller {
    let caller = Caller::from(&format!("+1415555{:04}", 1000 + seed * 100 + n as u64));
    let first = ["Ada", "Bea", "Cy", "Di", "Ed", "Flo"][n];
    let made = app
        .tool(
            "create_patient",
            json!({"first_name": first, "last_name": "Schedule", "date_of_birth": "1990-02-03"}),
            &caller,
        )
        .await;
    assert!(made.ok().contains("Registered"), "{made:?}");
    caller
}

both!(availability_and_booking_agree_on_generated_schedules);
