//! Availability: free slots computed from the practice-system port (open blocks minus booked
//! appointments and this gateway's own pending writes). [`free_slots`] is the pure core; [`check`]
//! answers "what is free on that day" (with alternatives on later days when it is full) and
//! [`find_slot`] re-checks one exact start at booking time. Times are practice-local.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, ZonedDateTime};

use crate::pms::{
    Appointment, AppointmentId, OpenBlock, Operatory, OperatoryId, PmsResult, PracticeSystem,
    Provider, ProviderId,
};
use crate::practices::BookingPolicy;

/// Time that is taken but not (yet) in the PMS's appointments, e.g. this gateway's own pending
/// writebacks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Busy {
    pub provider_id: ProviderId,
    pub operatory_id: Option<OperatoryId>,
    pub start: DateTime,
    pub end: DateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityRequest {
    pub date: Date,
    pub length_minutes: u32,
    /// Only this provider; `None` means anyone.
    pub provider: Option<ProviderId>,
    /// Only starts in `[from, to)`, e.g. mornings.
    pub window: Option<(Time, Time)>,
    /// At most this many slots.
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub start: DateTime,
    pub length_minutes: u32,
    pub provider_id: ProviderId,
    pub operatory_id: OperatoryId,
}

impl Slot {
    pub fn end(&self) -> DateTime {
        self.start + Span::new().minutes(i64::from(self.length_minutes))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub date: Date,
    pub slots: Vec<Slot>,
    /// Only when `slots` is empty: the earliest slot on each of up to `policy.alternative_days`
    /// distinct later days within `policy.search_days`.
    pub alternatives: Vec<Slot>,
}

/// Minutes from `date`'s midnight to `dt`, rounded down (negative before `date`).
fn minutes_floor(date: Date, dt: DateTime) -> i64 {
    let days = if dt.date() == date {
        0
    } else {
        date.duration_until(dt.date()).as_secs() / 86_400
    };
    days * 1440 + i64::from(dt.hour()) * 60 + i64::from(dt.minute())
}

fn minutes_ceil(date: Date, dt: DateTime) -> i64 {
    let partial = dt.second() != 0 || dt.subsec_nanosecond() != 0;
    minutes_floor(date, dt) + i64::from(partial)
}

fn time_ceil(t: Time) -> i64 {
    i64::from(t.hour()) * 60
        + i64::from(t.minute())
        + i64::from(t.second() != 0 || t.subsec_nanosecond() != 0)
}

fn time_floor(t: Time) -> i64 {
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}

fn overlaps(spans: &[(i64, i64)], start: i64, end: i64) -> bool {
    spans.iter().any(|&(s, e)| s < end && start < e)
}

/// Free slots on `req.date`: for each active provider (or `req.provider`), every start on the
/// `step_minutes` grid (counted from the hour of each open block's start) such that the visit
/// lies inside one of the provider's open blocks, starts at or after `not_before` and within
/// `req.window`, and neither the provider nor some visible operatory is taken by a booked
/// appointment that holds its slot or by `pending`. Sorted by start, then provider id; the first
/// free visible operatory (in `operatories` order) is proposed. At most `req.limit` slots.
#[allow(clippy::too_many_arguments)]
pub fn free_slots(
    req: &AvailabilityRequest,
    step_minutes: u32,
    not_before: DateTime,
    blocks: &[OpenBlock],
    providers: &[Provider],
    operatories: &[Operatory],
    booked: &[Appointment],
    pending: &[Busy],
) -> Vec<Slot> {
    if req.limit == 0 || req.length_minutes == 0 {
        return Vec::new();
    }
    let date = req.date;
    let (length, step) = (
        i64::from(req.length_minutes),
        i64::from(step_minutes.max(1)),
    );
    let earliest = minutes_ceil(date, not_before);
    let (window_from, window_to) = req
        .window
        .map_or((0, i64::MAX), |(from, to)| (time_ceil(from), time_ceil(to)));
    // Every taken span as (provider, operatory, start, end) in minutes from midnight.
    let taken: Vec<(&ProviderId, Option<&OperatoryId>, i64, i64)> = booked
        .iter()
        .filter(|a| a.status.holds_slot())
        .map(|a| {
            let start = minutes_floor(date, a.start);
            (
                &a.provider_id,
                a.operatory_id.as_ref(),
                start,
                start + i64::from(a.length_minutes),
            )
        })
        .chain(pending.iter().map(|b| {
            (
                &b.provider_id,
                b.operatory_id.as_ref(),
                minutes_floor(date, b.start),
                minutes_ceil(date, b.end),
            )
        }))
        .filter(|&(_, _, s, e)| e > -1440 && s < 2 * 1440 && s < e)
        .collect();
    let rooms: Vec<(&OperatoryId, Vec<(i64, i64)>)> = operatories
        .iter()
        .filter(|o| !o.hidden)
        .map(|o| {
            let spans = taken
                .iter()
                .filter(|t| t.1 == Some(&o.id))
                .map(|t| (t.2, t.3))
                .collect();
            (&o.id, spans)
        })
        .collect();
    let mut slots = Vec::new();
    for provider in providers {
        if !provider.active || req.provider.as_ref().is_some_and(|p| p != &provider.id) {
            continue;
        }
        let own: Vec<(i64, i64)> = taken
            .iter()
            .filter(|t| t.0 == &provider.id)
            .map(|t| (t.2, t.3))
            .collect();
        let mut starts: Vec<i64> = Vec::new();
        for block in blocks {
            if block
                .provider_id
                .as_ref()
                .is_some_and(|p| p != &provider.id)
            {
                continue;
            }
            let (open, close) = (time_ceil(block.start), time_floor(block.end));
            let mut start = (open / 60) * 60;
            while start + length <= close {
                if start >= open && start >= earliest && start >= window_from && start < window_to {
                    starts.push(start);
                }
                start += step;
            }
        }
        starts.sort_unstable();
        starts.dedup();
        for start in starts {
            let end = start + length;
            if overlaps(&own, start, end) {
                continue;
            }
            if let Some((room, _)) = rooms.iter().find(|(_, spans)| !overlaps(spans, start, end)) {
                slots.push(Slot {
                    start: date.to_datetime(Time::constant(
                        (start / 60) as i8,
                        (start % 60) as i8,
                        0,
                        0,
                    )),
                    length_minutes: req.length_minutes,
                    provider_id: provider.id.clone(),
                    operatory_id: (*room).clone(),
                });
            }
        }
    }
    slots.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then_with(|| a.provider_id.cmp(&b.provider_id))
    });
    slots.truncate(req.limit);
    slots
}

/// Whether a visit over the practice-local `[start, end)` cannot happen as said because a
/// spring-forward gap of `zone` falls inside it (its start or some minute of it does not exist,
/// so the clock on the wall would not show it). A fall-back fold does not count: 01:30 on that
/// day is one civil time, offered once.
fn crosses_a_gap(zone: &TimeZone, start: DateTime, end: DateTime) -> bool {
    let in_gap = |dt: DateTime| {
        matches!(
            zone.to_ambiguous_timestamp(dt).offset(),
            AmbiguousOffset::Gap { .. }
        )
    };
    let last = end - Span::new().nanoseconds(1);
    if in_gap(start) || in_gap(last) {
        return true;
    }
    // Both ends exist; the real time between them is shorter than said only when a gap lies
    // between them (a fold only lengthens it).
    match (zone.to_timestamp(start), zone.to_timestamp(last)) {
        (Ok(a), Ok(b)) => b.duration_since(a) < start.duration_until(last),
        _ => true,
    }
}

/// `slots` without those a DST gap of `zone` makes impossible. Most days have no transition
/// near them, and then no slot is checked one by one.
fn offerable(zone: &TimeZone, mut slots: Vec<Slot>) -> Vec<Slot> {
    let first = slots.iter().map(|s| s.start).min();
    let last = slots.iter().map(Slot::end).max();
    let (Some(first), Some(last)) = (first, last) else {
        return slots;
    };
    if transition_near(zone, first, last) {
        slots.retain(|s| !crosses_a_gap(zone, s.start, s.end()));
    }
    slots
}

/// Whether `zone` changes its offset anywhere from a day before the civil time `from` to a day
/// after `to` (the day's margin makes the exact instants of civil times irrelevant). When it
/// cannot tell, it says yes.
fn transition_near(zone: &TimeZone, from: DateTime, to: DateTime) -> bool {
    let day = Span::new().days(1);
    let instant =
        |dt: Option<DateTime>| dt.and_then(|dt| zone.to_ambiguous_timestamp(dt).compatible().ok());
    match (
        instant(from.checked_sub(day).ok()),
        instant(to.checked_add(day).ok()),
    ) {
        (Some(start), Some(end)) => zone
            .following(start)
            .next()
            .is_some_and(|t| t.timestamp() <= end),
        _ => true,
    }
}

/// The practice's providers and operatories: what the port knows that does not change from day
/// to day.
struct Roster {
    providers: Vec<Provider>,
    operatories: Vec<Operatory>,
}

impl Roster {
    async fn load(pms: &dyn PracticeSystem) -> PmsResult<Self> {
        Ok(Self {
            providers: pms.providers().await?,
            operatories: pms.operatories().await?,
        })
    }

    /// Free slots on `req.date`, fetching that day's blocks and appointments (nothing when closed),
    /// without any that a DST gap of `zone` makes impossible.
    #[allow(clippy::too_many_arguments)]
    async fn day(
        &self,
        pms: &dyn PracticeSystem,
        policy: &BookingPolicy,
        zone: &TimeZone,
        not_before: DateTime,
        pending: &[Busy],
        req: &AvailabilityRequest,
        ignore: Option<&AppointmentId>,
    ) -> PmsResult<Vec<Slot>> {
        let blocks = pms.open_blocks(req.date).await?;
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let midnight = req.date.to_datetime(Time::midnight());
        let mut booked = pms
            .appointments_between(midnight, midnight + Span::new().days(1))
            .await?;
        if let Some(ignore) = ignore {
            booked.retain(|a| &a.id != ignore);
        }
        Ok(offerable(
            zone,
            free_slots(
                req,
                policy.slot_step_minutes,
                not_before,
                &blocks,
                &self.providers,
                &self.operatories,
                &booked,
                pending,
            ),
        ))
    }
}

/// The earliest start that can be offered: the minimum notice after now, in real minutes, as
/// the practice's clock will then read.
fn not_before(policy: &BookingPolicy, now: &ZonedDateTime) -> DateTime {
    let notice = jiff::SignedDuration::from_mins(i64::from(policy.min_notice_minutes));
    now.checked_add(notice)
        .map_or_else(|_| now.datetime(), |z| z.datetime())
        .max(now.datetime())
}

/// Whether `date` can be offered at all: not before today, not beyond the horizon.
fn bookable(policy: &BookingPolicy, now: &ZonedDateTime, date: Date) -> bool {
    let today = now.date();
    date >= today && date <= today + Span::new().days(i64::from(policy.horizon_days))
}

/// Free slots on `req.date`; when there are none, `alternatives` holds the earliest slot on each
/// of up to `policy.alternative_days` later days within `policy.search_days` (same length,
/// provider and window). One `open_blocks` and at most one `appointments_between` per day.
pub async fn check(
    pms: &dyn PracticeSystem,
    policy: &BookingPolicy,
    now: &ZonedDateTime,
    pending: &[Busy],
    req: &AvailabilityRequest,
) -> PmsResult<Availability> {
    let mut answer = Availability {
        date: req.date,
        slots: Vec::new(),
        alternatives: Vec::new(),
    };
    let roster = Roster::load(pms).await?;
    let not_before = not_before(policy, now);
    if bookable(policy, now, req.date) {
        answer.slots = roster
            .day(pms, policy, now.time_zone(), not_before, pending, req, None)
            .await?;
    }
    if !answer.slots.is_empty() || req.limit == 0 {
        return Ok(answer);
    }
    let wanted = policy.alternative_days as usize;
    for offset in 1..=i64::from(policy.search_days) {
        if answer.alternatives.len() >= wanted {
            break;
        }
        let date = req.date + Span::new().days(offset);
        if !bookable(policy, now, date) {
            if date < now.date() {
                continue;
            }
            break;
        }
        let day = AvailabilityRequest {
            date,
            limit: 1,
            ..req.clone()
        };
        let earliest = roster
            .day(
                pms,
                policy,
                now.time_zone(),
                not_before,
                pending,
                &day,
                None,
            )
            .await?;
        answer.alternatives.extend(earliest);
    }
    Ok(answer)
}

/// The booking-time re-check: whether a visit of `length_minutes` can start exactly at `start`
/// (with `provider`, or anyone), and with which provider and operatory. `ignore` is an appointment
/// that does not count as busy (the one being rescheduled).
#[allow(clippy::too_many_arguments)]
pub async fn find_slot(
    pms: &dyn PracticeSystem,
    policy: &BookingPolicy,
    now: &ZonedDateTime,
    pending: &[Busy],
    start: DateTime,
    length_minutes: u32,
    provider: Option<&ProviderId>,
    ignore: Option<&AppointmentId>,
) -> PmsResult<Option<Slot>> {
    if !bookable(policy, now, start.date()) {
        return Ok(None);
    }
    let at = start.time();
    let req = AvailabilityRequest {
        date: start.date(),
        length_minutes,
        provider: provider.cloned(),
        window: Some((at, at.saturating_add(Span::new().minutes(1)))),
        limit: usize::MAX,
    };
    let roster = Roster::load(pms).await?;
    let slots = roster
        .day(
            pms,
            policy,
            now.time_zone(),
            not_before(policy, now),
            pending,
            &req,
            ignore,
        )
        .await?;
    Ok(slots.into_iter().find(|s| s.start == start))
}

#[cfg(test)]
mod tests;
