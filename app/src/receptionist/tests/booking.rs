//! The booking and rescheduling rules: which times can be booked, and what a caller hears when
//! one cannot.

use jiff::ToSpan;

use super::*;
use crate::{
    pms::{AppointmentId, PatientId},
    receptionist::tools::booking::{BookAppointment, RescheduleAppointment},
};

fn booking(date: Date, time: Time, provider: Option<&ProviderId>) -> BookAppointment {
    BookAppointment {
        identity: Identity::default(),
        date,
        time,
        length_minutes: Some(30),
        provider: provider.cloned(),
        reason: None,
    }
}

fn reference(answer: &str) -> AppointmentId {
    AppointmentId::new(
        answer
            .rsplit("Reference ")
            .next()
            .unwrap()
            .trim_end_matches('.'),
    )
}

#[tokio::test]
async fn past_too_soon_and_too_far_are_refused_with_what_to_ask_instead() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let nine = Time::constant(9, 0, 0, 0);
    let yesterday = desk.ask(&call, booking(TODAY - 1.day(), nine, None)).await;
    assert!(
        yesterday.is_err_and(|e| e.contains("is in the past") && e.contains("Monday, March 4"))
    );
    // 07:00 now: 07:30 today is within the practice's notice.
    let soon = desk
        .ask(&call, booking(TODAY, Time::constant(7, 30, 0, 0), None))
        .await;
    assert!(soon.is_err_and(|e| e.contains("too soon")));
    let far = desk
        .ask(&call, booking(TODAY + 400.days(), nine, None))
        .await;
    assert!(far.is_err_and(|e| e.contains("days ahead")));
    let olivia = PatientId::new("1001");
    let refused = desk.audited(Tool::BookAppointment);
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|e| e.patient_ids == [olivia.clone()]));
}

#[tokio::test]
async fn a_taken_time_is_refused_with_the_times_still_open() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    let olivia = desk.call("call-1", Some(OLIVIA_PHONE));
    desk.ask(&olivia, booking(date, time, Some(&provider)))
        .await
        .unwrap();
    let liam = desk.call("call-2", Some("+13105550101"));
    let taken = desk
        .ask(&liam, booking(date, time, Some(&provider)))
        .await
        .unwrap_err();
    assert!(
        taken.contains("is not available") && taken.contains("Open times that day"),
        "{taken}"
    );
}

#[tokio::test]
async fn a_booking_overlapping_the_patients_own_visit_is_refused() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 60, None).await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let first = desk.ask(
        &call,
        BookAppointment {
            length_minutes: Some(60),
            ..booking(date, time, Some(&provider))
        },
    );
    first.await.unwrap();
    let later = date.to_datetime(time) + 30.minutes();
    let overlapping = desk
        .ask(&call, booking(date, later.time(), None))
        .await
        .unwrap_err();
    assert!(
        overlapping.contains("already has an appointment") && overlapping.contains("overlaps"),
        "{overlapping}"
    );
}

#[tokio::test]
async fn a_reschedule_keeps_the_visits_length_and_provider() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 45, None).await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let booked = desk
        .ask(
            &call,
            BookAppointment {
                length_minutes: Some(45),
                ..booking(date, time, Some(&provider))
            },
        )
        .await
        .unwrap();
    let id = reference(&booked);
    let next_week = date + 7.days();
    let (to, _) = desk
        .first_free(next_week, 45, Some(provider.as_str()))
        .await;
    let moved = desk
        .ask(
            &call,
            RescheduleAppointment {
                identity: Identity::default(),
                appointment: id.clone(),
                date: next_week,
                time: to,
                provider: None,
            },
        )
        .await
        .unwrap();
    assert!(moved.starts_with("Rescheduled"), "{moved}");
    let now = desk.pms.appointment(&id).await.unwrap();
    assert_eq!(
        (now.start, now.length_minutes),
        (next_week.to_datetime(to), 45)
    );
    assert_eq!(now.provider_id, provider);
}

#[tokio::test]
async fn another_patients_appointment_reads_as_not_found() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    let olivia = desk.call("call-1", Some(OLIVIA_PHONE));
    let booked = desk
        .ask(&olivia, booking(date, time, Some(&provider)))
        .await
        .unwrap();
    let liam = desk.call("call-2", Some("+13105550101"));
    let cancel = crate::receptionist::tools::booking::CancelAppointment {
        identity: Identity::default(),
        appointment: reference(&booked),
        reason: None,
    };
    let refused = desk.ask(&liam, cancel).await.unwrap_err();
    assert!(
        refused.contains("No upcoming appointment") && !refused.contains("Olivia"),
        "{refused}"
    );
    assert!(
        desk.pms
            .appointment(&reference(&booked))
            .await
            .unwrap()
            .status
            .holds_slot()
    );
}
