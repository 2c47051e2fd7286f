//! Availability against the sandbox: the fixture supports the receptionist's scenarios (a full
//! day with alternatives, a light day, a closed Sunday, notice, pending writes, the re-check).

use jiff::Span;
use jiff::civil::{Date, Time, Weekday};

use super::fixture::{self, DR_LEE, HIDDEN_OPERATORY, at};
use super::tests::{TODAY, sandbox};
use super::*;
use crate::pms::{ProviderId, WritebackState};
use crate::practices::BookingPolicy;
use crate::receptionist::slots::{AvailabilityRequest, Busy, check, find_slot};

fn request(date: Date, length: u32) -> AvailabilityRequest {
    AvailabilityRequest {
        date,
        length_minutes: length,
        provider: None,
        window: None,
        limit: usize::MAX,
    }
}

/// `dt` at the sandbox practice, as the receptionist's clock gives "now".
fn zoned(dt: DateTime) -> jiff::ZonedDateTime {
    dt.to_zoned_datetime(jiff::tz::TimeZone::get(SANDBOX_TIME_ZONE).unwrap())
        .unwrap()
}

fn morning(date: Date) -> jiff::ZonedDateTime {
    zoned(at(date, 7, 0))
}

#[tokio::test]
async fn the_full_day_offers_alternatives_on_distinct_later_days() {
    let policy = BookingPolicy::default();
    for offset in 0..7 {
        let today = TODAY + Span::new().days(offset);
        let s = sandbox(today);
        let full = fixture::fully_booked_day(today);
        assert!(!matches!(
            full.weekday(),
            Weekday::Saturday | Weekday::Sunday
        ));
        let answer = check(&s, &policy, &morning(today), &[], &request(full, 15))
            .await
            .unwrap();
        assert!(
            answer.slots.is_empty(),
            "{full}: {:?}",
            answer.slots.first()
        );
        let days: Vec<Date> = answer.alternatives.iter().map(|a| a.start.date()).collect();
        assert_eq!(days.len(), policy.alternative_days as usize);
        assert!(
            days[0] > full && days.windows(2).all(|w| w[0] < w[1]),
            "{days:?}"
        );
        assert!(days[0] <= fixture::light_day(today), "{days:?}");
    }
}

#[tokio::test]
async fn the_light_day_has_at_least_twenty_half_hours_free() {
    let policy = BookingPolicy {
        slot_step_minutes: 30,
        ..BookingPolicy::default()
    };
    for offset in 0..7 {
        let today = TODAY + Span::new().days(offset);
        let light = fixture::light_day(today);
        let answer = check(
            &sandbox(today),
            &policy,
            &morning(today),
            &[],
            &request(light, 30),
        )
        .await
        .unwrap();
        assert!(answer.slots.len() >= 20, "{light}: {}", answer.slots.len());
        assert!(answer.alternatives.is_empty());
        assert!(
            answer
                .slots
                .iter()
                .all(|s| s.operatory_id.as_str() != HIDDEN_OPERATORY)
        );
    }
}

#[tokio::test]
async fn sunday_is_closed_and_far_dates_are_beyond_the_horizon() {
    let policy = BookingPolicy::default();
    let s = sandbox(TODAY);
    let sunday = TODAY + Span::new().days(6);
    assert_eq!(sunday.weekday(), Weekday::Sunday);
    let answer = check(&s, &policy, &morning(TODAY), &[], &request(sunday, 30))
        .await
        .unwrap();
    assert!(answer.slots.is_empty());
    assert_eq!(
        answer.alternatives[0].start.date(),
        fixture::light_day(TODAY) // the Monday after is the fully booked day
    );
    let far = TODAY + Span::new().days(i64::from(policy.horizon_days) + 1);
    let answer = check(&s, &policy, &morning(TODAY), &[], &request(far, 30))
        .await
        .unwrap();
    assert!(answer.slots.is_empty() && answer.alternatives.is_empty());
}

#[tokio::test]
async fn a_past_time_today_is_never_offered() {
    let policy = BookingPolicy::default();
    let now = at(TODAY, 10, 20);
    let answer = check(
        &sandbox(TODAY),
        &policy,
        &zoned(now),
        &[],
        &request(TODAY, 30),
    )
    .await
    .unwrap();
    assert!(answer.slots.iter().all(|s| s.start >= at(TODAY, 11, 20)));
    let late = at(TODAY, 18, 0);
    let answer = check(
        &sandbox(TODAY),
        &policy,
        &zoned(late),
        &[],
        &request(TODAY, 30),
    )
    .await
    .unwrap();
    assert!(answer.slots.is_empty());
    assert!(answer.alternatives.iter().all(|s| s.start.date() > TODAY));
}

#[tokio::test]
async fn provider_filter_and_window_apply() {
    let policy = BookingPolicy::default();
    let day = fixture::light_day(TODAY);
    let req = AvailabilityRequest {
        provider: Some(ProviderId::new(DR_LEE)),
        window: Some((Time::constant(8, 0, 0, 0), Time::constant(12, 0, 0, 0))),
        ..request(day, 30)
    };
    let answer = check(&sandbox(TODAY), &policy, &morning(TODAY), &[], &req)
        .await
        .unwrap();
    assert!(!answer.slots.is_empty());
    assert!(
        answer
            .slots
            .iter()
            .all(|s| s.provider_id.as_str() == DR_LEE && s.start < at(day, 12, 0))
    );
}

#[tokio::test]
async fn pending_and_applied_bookings_take_their_slot() {
    let policy = BookingPolicy::default();
    let s = sandbox(TODAY);
    let day = fixture::light_day(TODAY);
    let lee = ProviderId::new(DR_LEE);
    let req = AvailabilityRequest {
        provider: Some(lee.clone()),
        ..request(day, 30)
    };
    let slot = check(&s, &policy, &morning(TODAY), &[], &req)
        .await
        .unwrap()
        .slots
        .remove(0);
    let found = find_slot(
        &s,
        &policy,
        &morning(TODAY),
        &[],
        slot.start,
        30,
        Some(&lee),
        None,
    )
    .await
    .unwrap();
    assert_eq!(found.as_ref(), Some(&slot));
    let busy = [Busy {
        provider_id: lee.clone(),
        operatory_id: None,
        start: slot.start,
        end: slot.end(),
    }];
    let with_pending = check(&s, &policy, &morning(TODAY), &busy, &req)
        .await
        .unwrap();
    assert!(
        with_pending
            .slots
            .iter()
            .all(|x| x.start >= slot.end() || x.end() <= slot.start)
    );
    assert_eq!(
        find_slot(
            &s,
            &policy,
            &morning(TODAY),
            &busy,
            slot.start,
            30,
            Some(&lee),
            None
        )
        .await
        .unwrap(),
        None
    );

    let booking = NewAppointment {
        patient_id: PatientId::new("1001"),
        provider_id: lee.clone(),
        operatory_id: slot.operatory_id.clone(),
        start: slot.start,
        length_minutes: 30,
        description: Phi::new("Exam".into()),
        note: None,
    };
    let wb = s.book(booking).await.unwrap();
    assert!(matches!(
        s.writeback(&wb.id).await.unwrap().state,
        WritebackState::Applied { .. }
    ));
    assert_eq!(
        find_slot(
            &s,
            &policy,
            &morning(TODAY),
            &[],
            slot.start,
            30,
            Some(&lee),
            None
        )
        .await
        .unwrap(),
        None
    );
    let anyone = find_slot(
        &s,
        &policy,
        &morning(TODAY),
        &[],
        slot.start,
        30,
        None,
        None,
    )
    .await
    .unwrap();
    assert!(anyone.is_none_or(|x| x.provider_id != lee && x.operatory_id != slot.operatory_id));
    let off_grid = slot.start + Span::new().minutes(7);
    assert_eq!(
        find_slot(&s, &policy, &morning(TODAY), &[], off_grid, 30, None, None)
            .await
            .unwrap(),
        None
    );
}
