//! `check_availability`: the free times of one day, in the practice's local time, or the
//! nearest openings on later days when it is full. The slots themselves are computed by
//! `receptionist::slots`; this is the tool around it, and the alternatives offered beside a
//! refused booking.

use std::collections::BTreeMap;

use jiff::civil::{Date, DateTime, Time};

use super::{Ctx, Work, provider_names};
use crate::{
    pms::ProviderId,
    practices::BookingPolicy,
    receptionist::{
        Outcome,
        slots::{self, AvailabilityRequest, Busy, Slot},
        words,
    },
};

#[derive(Debug, Clone)]
pub struct CheckAvailability {
    /// The day; today when not given.
    pub date: Option<Date>,
    /// The visit's length; the practice's default when not given.
    pub length_minutes: Option<u32>,
    pub provider: Option<ProviderId>,
    pub part_of_day: PartOfDay,
    /// At most this many slots.
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartOfDay {
    Morning,
    Afternoon,
    Any,
}

impl PartOfDay {
    pub fn window(self) -> Option<(Time, Time)> {
        match self {
            Self::Morning => Some((Time::midnight(), jiff::civil::time(12, 0, 0, 0))),
            Self::Afternoon => Some((
                jiff::civil::time(12, 0, 0, 0),
                jiff::civil::time(23, 59, 0, 0),
            )),
            Self::Any => None,
        }
    }
}

impl Work for CheckAvailability {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let now = cx.now();
        let date = self.date.unwrap_or(now.date());
        if let Err(refused) = cx.bookable_date(date) {
            return refused;
        }
        let providers = match cx.providers(self.provider.as_ref()).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let booking = &cx.practice.profile.booking;
        let length = self
            .length_minutes
            .unwrap_or(booking.default_length_minutes);
        let held = cx.held_from(date).await;
        let request = AvailabilityRequest {
            date,
            length_minutes: length,
            provider: self.provider,
            window: self.part_of_day.window(),
            limit: self.limit,
        };
        let found =
            match slots::check(cx.practice.pms.as_ref(), booking, &now, &held, &request).await {
                Ok(found) => found,
                Err(e) => return Outcome::pms(&e, Vec::new()),
            };
        let open = !found.slots.is_empty();
        let today = now.date();
        let listed = |slots, with_date| listed(slots, with_date, today);
        let body = AvailabilityOut {
            date: date.to_string(),
            day: words::day_from(date, now.date()),
            length_minutes: length,
            available: (!open).then_some(false),
            slots: open.then(|| listed(&found.slots, false)),
            alternatives: (!open).then(|| listed(&found.alternatives, true)),
            providers: provider_names(&providers),
        };
        let mut text = Vec::with_capacity(1024);
        serde_json::to_writer(&mut text, &body).expect("plain data serialises");
        let body = String::from_utf8(text).expect("serde_json writes UTF-8");
        Outcome::ok(body, Vec::new())
    }
}

/// The slots as the assistant reads them.
fn listed(slots: &[Slot], with_date: bool, today: Date) -> Vec<SlotOut<'_>> {
    slots
        .iter()
        .map(|s| SlotOut::new(s, with_date, today))
        .collect()
}

/// One offered slot, as the assistant reads it.
#[derive(serde::Serialize)]
struct SlotOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    day: Option<String>,
    time: String,
    provider_id: &'a ProviderId,
}

impl<'a> SlotOut<'a> {
    /// `today` is the practice's date, for "today" and "tomorrow".
    fn new(slot: &'a Slot, with_date: bool, today: Date) -> Self {
        let date = slot.start.date();
        Self {
            date: with_date.then(|| date.to_string()),
            day: with_date.then(|| words::day_from(date, today)),
            time: words::hhmm(slot.start.time()),
            provider_id: &slot.provider_id,
        }
    }
}

/// The answer of `check_availability` (serialised directly: it is the hottest answer).
#[derive(serde::Serialize)]
struct AvailabilityOut<'a> {
    date: String,
    day: String,
    length_minutes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    slots: Option<Vec<SlotOut<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alternatives: Option<Vec<SlotOut<'a>>>,
    providers: BTreeMap<&'a str, &'a str>,
}

/// What the practice can offer instead of a taken time, for the error the model reads:
/// " Open times that day: …", " Nothing else is open that day; the next openings are …", or
/// nothing.
pub async fn other_times(
    cx: &Ctx<'_>,
    start: DateTime,
    length: u32,
    provider: Option<ProviderId>,
    taken: Option<&Busy>,
) -> String {
    let request = AvailabilityRequest {
        date: start.date(),
        length_minutes: length,
        provider,
        window: None,
        limit: 12,
    };
    // Suggestions beside a refusal look a week ahead at most: the assistant can ask
    // check_availability for more, and a full day should not cost three weeks of searching.
    let policy = BookingPolicy {
        alternative_days: 2,
        search_days: 7,
        ..cx.practice.profile.booking.clone()
    };
    let mut held = cx.held_from(start.date()).await;
    held.extend(taken.cloned());
    let found = slots::check(
        cx.practice.pms.as_ref(),
        &policy,
        &cx.now(),
        &held,
        &request,
    )
    .await;
    match found {
        Ok(found) if !found.slots.is_empty() => {
            let mut times: Vec<String> = found
                .slots
                .iter()
                .map(|s| words::clock(s.start.time()))
                .collect();
            times.dedup();
            times.truncate(4);
            format!(" Open times that day: {}.", times.join(", "))
        }
        Ok(found) if !found.alternatives.is_empty() => {
            let times: Vec<String> = found
                .alternatives
                .iter()
                .map(|s| words::when(s.start))
                .collect();
            format!(
                " Nothing else is open that day; the next openings are {}.",
                times.join("; ")
            )
        }
        _ => String::new(),
    }
}
