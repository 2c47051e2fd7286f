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
#[derive(Debug, Clone, PartialEq, Eq)]
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
mod tests {
    use super::*;
    use crate::pms::{AppointmentId, AppointmentStatus, PatientId};
    use proptest::prelude::*;

    const DAY: Date = Date::constant(2030, 3, 5); // a Tuesday

    fn at(h: i8, m: i8) -> DateTime {
        DAY.to_datetime(Time::constant(h, m, 0, 0))
    }

    fn provider(id: &str) -> Provider {
        Provider {
            id: ProviderId::new(id),
            display_name: id.into(),
            role: "dentist".into(),
            active: true,
        }
    }

    fn room(id: &str, hidden: bool) -> Operatory {
        Operatory {
            id: OperatoryId::new(id),
            name: id.into(),
            hidden,
        }
    }

    fn block(provider: Option<&str>, from: (i8, i8), to: (i8, i8)) -> OpenBlock {
        OpenBlock {
            provider_id: provider.map(ProviderId::new),
            start: Time::constant(from.0, from.1, 0, 0),
            end: Time::constant(to.0, to.1, 0, 0),
        }
    }

    fn appt(
        provider: &str,
        room: Option<&str>,
        start: DateTime,
        len: u32,
        status: AppointmentStatus,
    ) -> Appointment {
        Appointment {
            id: AppointmentId::new(format!("{provider}{start}")),
            patient_id: PatientId::new("1"),
            provider_id: ProviderId::new(provider),
            operatory_id: room.map(OperatoryId::new),
            start,
            length_minutes: len,
            status,
            description: None,
        }
    }

    fn req(length: u32) -> AvailabilityRequest {
        AvailabilityRequest {
            date: DAY,
            length_minutes: length,
            provider: None,
            window: None,
            limit: usize::MAX,
        }
    }

    fn day_blocks() -> Vec<OpenBlock> {
        vec![block(None, (8, 0), (12, 0)), block(None, (13, 0), (17, 0))]
    }

    fn slots(r: &AvailabilityRequest, booked: &[Appointment], pending: &[Busy]) -> Vec<Slot> {
        let (providers, rooms) = (
            [provider("A"), provider("B")],
            [room("OP1", false), room("OP2", false)],
        );
        free_slots(
            r,
            15,
            at(0, 0),
            &day_blocks(),
            &providers,
            &rooms,
            booked,
            pending,
        )
    }

    #[test]
    fn lunch_break_is_never_offered() {
        let all = slots(&req(30), &[], &[]);
        assert!(!all.is_empty());
        assert!(
            all.iter()
                .all(|s| s.end() <= at(12, 0) || s.start >= at(13, 0))
        );
        assert!(
            all.iter().any(|s| s.start == at(11, 30)) && !all.iter().any(|s| s.start == at(11, 45))
        );
        assert_eq!(all.last().unwrap().start, at(16, 30));
    }

    #[test]
    fn no_blocks_means_no_slots() {
        let rooms = [room("OP1", false)];
        assert!(
            free_slots(
                &req(30),
                15,
                at(0, 0),
                &[],
                &[provider("A")],
                &rooms,
                &[],
                &[]
            )
            .is_empty()
        );
    }

    #[test]
    fn slots_are_sorted_by_start_then_provider_and_limited() {
        let all = slots(&req(30), &[], &[]);
        assert_eq!((all[0].start, all[0].provider_id.as_str()), (at(8, 0), "A"));
        assert_eq!((all[1].start, all[1].provider_id.as_str()), (at(8, 0), "B"));
        assert_eq!(all[2].start, at(8, 15));
        let three = slots(
            &AvailabilityRequest {
                limit: 3,
                ..req(30)
            },
            &[],
            &[],
        );
        assert_eq!(three, all[..3]);
    }

    #[test]
    fn provider_filter_keeps_only_that_provider() {
        let only_b = slots(
            &AvailabilityRequest {
                provider: Some(ProviderId::new("B")),
                ..req(30)
            },
            &[],
            &[],
        );
        assert!(!only_b.is_empty() && only_b.iter().all(|s| s.provider_id.as_str() == "B"));
        let unknown = slots(
            &AvailabilityRequest {
                provider: Some(ProviderId::new("Z")),
                ..req(30)
            },
            &[],
            &[],
        );
        assert!(unknown.is_empty());
    }

    #[test]
    fn booked_and_pending_time_blocks_the_provider_but_cancelled_does_not() {
        let booked = [
            appt("A", Some("OP1"), at(9, 0), 60, AppointmentStatus::Scheduled),
            appt(
                "A",
                Some("OP1"),
                at(14, 0),
                60,
                AppointmentStatus::Cancelled,
            ),
        ];
        let pending = [Busy {
            provider_id: ProviderId::new("A"),
            operatory_id: None,
            start: at(15, 0),
            end: at(15, 30),
        }];
        let a = slots(
            &AvailabilityRequest {
                provider: Some(ProviderId::new("A")),
                ..req(30)
            },
            &booked,
            &pending,
        );
        let starts: Vec<_> = a.iter().map(|s| s.start).collect();
        for taken in [
            at(8, 45),
            at(9, 0),
            at(9, 30),
            at(14, 45),
            at(15, 0),
            at(15, 15),
        ] {
            assert!(!starts.contains(&taken), "{taken}");
        }
        for free in [at(8, 30), at(10, 0), at(14, 0), at(14, 30), at(15, 30)] {
            assert!(starts.contains(&free), "{free}");
        }
    }

    #[test]
    fn a_taken_operatory_moves_the_slot_to_another_and_hidden_ones_are_never_used() {
        let booked = [appt(
            "B",
            Some("OP1"),
            at(8, 0),
            30,
            AppointmentStatus::Confirmed,
        )];
        let a = slots(
            &AvailabilityRequest {
                provider: Some(ProviderId::new("A")),
                ..req(30)
            },
            &booked,
            &[],
        );
        assert_eq!((a[0].start, a[0].operatory_id.as_str()), (at(8, 0), "OP2"));
        let rooms = [room("OP1", false), room("OP9", true)];
        let pending = [Busy {
            provider_id: ProviderId::new("B"),
            operatory_id: Some(OperatoryId::new("OP1")),
            start: at(8, 0),
            end: at(9, 0),
        }];
        let a = free_slots(
            &req(30),
            15,
            at(0, 0),
            &day_blocks(),
            &[provider("A")],
            &rooms,
            &[],
            &pending,
        );
        assert_eq!(a[0].start, at(9, 0));
        assert!(a.iter().all(|s| s.operatory_id.as_str() == "OP1"));
    }

    #[test]
    fn nothing_starts_before_not_before_and_window_restricts_starts() {
        let (providers, rooms) = ([provider("A")], [room("OP1", false)]);
        let later = free_slots(
            &req(30),
            15,
            at(10, 7),
            &day_blocks(),
            &providers,
            &rooms,
            &[],
            &[],
        );
        assert_eq!(later[0].start, at(10, 15));
        let tomorrow = DAY.to_datetime(Time::constant(8, 0, 0, 0)) + Span::new().days(1);
        assert!(
            free_slots(
                &req(30),
                15,
                tomorrow,
                &day_blocks(),
                &providers,
                &rooms,
                &[],
                &[]
            )
            .is_empty()
        );
        let morning = AvailabilityRequest {
            window: Some((Time::constant(9, 0, 0, 0), Time::constant(10, 0, 0, 0))),
            ..req(30)
        };
        let m = free_slots(
            &morning,
            30,
            at(0, 0),
            &day_blocks(),
            &providers,
            &rooms,
            &[],
            &[],
        );
        assert_eq!(
            m.iter().map(|s| s.start).collect::<Vec<_>>(),
            [at(9, 0), at(9, 30)]
        );
    }

    #[test]
    fn starts_follow_the_step_from_the_hour_and_blocks_are_per_provider() {
        let blocks = [
            block(Some("A"), (8, 10), (9, 0)),
            block(Some("B"), (13, 0), (14, 0)),
        ];
        let (providers, rooms) = ([provider("A"), provider("B")], [room("OP1", false)]);
        let all = free_slots(
            &req(15),
            15,
            at(0, 0),
            &blocks,
            &providers,
            &rooms,
            &[],
            &[],
        );
        let a: Vec<_> = all
            .iter()
            .filter(|s| s.provider_id.as_str() == "A")
            .map(|s| s.start)
            .collect();
        assert_eq!(a, [at(8, 15), at(8, 30), at(8, 45)]);
        assert!(
            all.iter()
                .filter(|s| s.provider_id.as_str() == "B")
                .all(|s| s.start >= at(13, 0))
        );
        let mut inactive = provider("A");
        inactive.active = false;
        assert!(
            free_slots(
                &req(15),
                15,
                at(0, 0),
                &blocks,
                &[inactive],
                &rooms,
                &[],
                &[]
            )
            .is_empty()
        );
    }

    /// Slots from midnight to 04:00 on `day`, everyone open, nothing booked, then what the
    /// practice in Los Angeles can offer of them.
    fn night_slots(day: Date) -> Vec<Slot> {
        let zone = TimeZone::get("America/Los_Angeles").unwrap();
        let r = AvailabilityRequest {
            date: day,
            ..req(30)
        };
        let blocks = [block(None, (0, 0), (4, 0))];
        let slots = free_slots(
            &r,
            30,
            day.to_datetime(Time::midnight()),
            &blocks,
            &[provider("A")],
            &[room("R", false)],
            &[],
            &[],
        );
        offerable(&zone, slots)
    }

    #[test]
    fn only_days_near_a_transition_have_their_slots_checked_one_by_one() {
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        let at = |d: Date, h: i8| d.to_datetime(Time::constant(h, 0, 0, 0));
        let spring = jiff::civil::date(2027, 3, 14);
        let june = jiff::civil::date(2027, 6, 15);
        assert!(transition_near(&la, at(spring, 8), at(spring, 17)));
        assert!(transition_near(
            &la,
            at(spring.yesterday().unwrap(), 8),
            at(spring.yesterday().unwrap(), 17)
        ));
        assert!(!transition_near(&la, at(june, 8), at(june, 17)));
        assert!(!transition_near(
            &TimeZone::UTC,
            at(spring, 0),
            at(spring, 23)
        ));
    }

    fn times(slots: &[Slot]) -> Vec<String> {
        slots.iter().map(|s| s.start.time().to_string()).collect()
    }

    #[test]
    fn nothing_is_offered_in_the_spring_gap() {
        // 2027-03-14: clocks go from 02:00 to 03:00 in Los Angeles.
        let slots = night_slots(Date::constant(2027, 3, 14));
        assert_eq!(
            times(&slots),
            [
                "00:00:00", "00:30:00", "01:00:00", "01:30:00", "03:00:00", "03:30:00"
            ]
        );
        // A 90-minute visit from 01:00 would end at a time that is really 30 minutes later.
        let zone = TimeZone::get("America/Los_Angeles").unwrap();
        let d = Date::constant(2027, 3, 14);
        assert!(crosses_a_gap(
            &zone,
            d.to_datetime(Time::constant(1, 0, 0, 0)),
            d.to_datetime(Time::constant(3, 30, 0, 0))
        ));
        assert!(crosses_a_gap(
            &zone,
            d.to_datetime(Time::constant(1, 45, 0, 0)),
            d.to_datetime(Time::constant(2, 15, 0, 0))
        ));
    }

    #[test]
    fn the_repeated_autumn_hour_is_offered_once() {
        // 2027-11-07: 01:00–02:00 happens twice in Los Angeles; 01:30 is one slot, not two.
        let slots = night_slots(Date::constant(2027, 11, 7));
        assert_eq!(
            times(&slots),
            [
                "00:00:00", "00:30:00", "01:00:00", "01:30:00", "02:00:00", "02:30:00", "03:00:00",
                "03:30:00"
            ]
        );
        // An ordinary day is untouched.
        assert_eq!(night_slots(Date::constant(2027, 11, 8)).len(), 8);
    }

    fn arb_time() -> impl Strategy<Value = DateTime> {
        (6i8..19, 0i8..60).prop_map(|(h, m)| at(h, m))
    }

    proptest! {
        #[test]
        fn returned_slots_respect_every_rule(
            blocks in prop::collection::vec((prop::option::of(0usize..3), 6i8..18, 1i8..6), 0..5),
            hidden in prop::collection::vec(any::<bool>(), 1..4),
            booked in prop::collection::vec((0usize..3, prop::option::of(0usize..4), arb_time(), 1u32..120, any::<bool>()), 0..12),
            pending in prop::collection::vec((0usize..3, prop::option::of(0usize..4), arb_time(), 1u32..90), 0..4),
            length in 5u32..120,
            step in prop::sample::select(vec![5u32, 10, 15, 20, 30, 45, 60]),
            not_before in arb_time(),
            who in prop::option::of(0usize..3),
            limit in 0usize..40,
        ) {
            let ids = ["A", "B", "C"];
            let providers: Vec<_> = ids.iter().map(|id| provider(id)).collect();
            let rooms: Vec<_> = hidden.iter().enumerate().map(|(i, &h)| room(&format!("OP{i}"), h)).collect();
            let blocks: Vec<_> = blocks.iter().map(|&(p, h, len)| block(p.map(|p| ids[p]), (h, 0), ((h + len).min(23), 30))).collect();
            let booked: Vec<_> = booked.iter().map(|&(p, r, start, len, cancelled)| {
                let status = if cancelled { AppointmentStatus::Cancelled } else { AppointmentStatus::Scheduled };
                appt(ids[p], r.map(|r| ["OP0", "OP1", "OP2", "OP3"][r]), start, len, status)
            }).collect();
            let pending: Vec<_> = pending.iter().map(|&(p, r, start, len)| Busy {
                provider_id: ProviderId::new(ids[p]),
                operatory_id: r.map(|r| OperatoryId::new(format!("OP{r}"))),
                start,
                end: start + Span::new().minutes(i64::from(len)),
            }).collect();
            let r = AvailabilityRequest { provider: who.map(|w| ProviderId::new(ids[w])), limit, ..req(length) };
            let slots = free_slots(&r, step, not_before, &blocks, &providers, &rooms, &booked, &pending);
            prop_assert!(slots.len() <= limit);
            let mut taken: Vec<(ProviderId, Option<OperatoryId>, DateTime, DateTime)> = booked.iter()
                .filter(|a| a.status.holds_slot())
                .map(|a| (a.provider_id.clone(), a.operatory_id.clone(), a.start, a.end()))
                .collect();
            taken.extend(pending.iter().map(|b| (b.provider_id.clone(), b.operatory_id.clone(), b.start, b.end)));
            for s in &slots {
                prop_assert!(s.start >= not_before);
                prop_assert!(r.provider.as_ref().is_none_or(|p| p == &s.provider_id));
                prop_assert!(!rooms.iter().any(|o| o.id == s.operatory_id && o.hidden));
                let inside_a_block = blocks.iter().any(|b| {
                    b.provider_id.as_ref().is_none_or(|p| p == &s.provider_id)
                        && s.start >= DAY.to_datetime(b.start) && s.end() <= DAY.to_datetime(b.end)
                        && (time_floor(s.start.time()) - i64::from(b.start.hour()) * 60) % i64::from(step) == 0
                });
                prop_assert!(inside_a_block);
                for (p, o, start, end) in &taken {
                    let overlap = *start < s.end() && s.start < *end;
                    prop_assert!(!(overlap && (p == &s.provider_id || o.as_ref() == Some(&s.operatory_id))));
                }
            }
            prop_assert!(slots.windows(2).all(|w| (w[0].start, &w[0].provider_id) < (w[1].start, &w[1].provider_id)));
        }
    }
}
