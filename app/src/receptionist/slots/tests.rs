//! The slot engine's rules: breaks, bookings, operatories, notice, steps, DST.

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
