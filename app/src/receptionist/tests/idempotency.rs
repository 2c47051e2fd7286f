//! One write per tool call and per business key.

use super::*;
use crate::{audit::AuditOutcome, pms::PatientId, receptionist::tools::booking::BookAppointment};

fn booking(date: Date, time: Time, provider: &ProviderId) -> BookAppointment {
    BookAppointment {
        identity: Identity::default(),
        date,
        time,
        length_minutes: Some(30),
        provider: Some(provider.clone()),
        reason: None,
    }
}

async fn olivias_bookings_at(desk: &Desk, date: Date, time: Time) -> usize {
    let olivia = PatientId::new("1001");
    let all = desk.pms.appointments_for_patient(&olivia).await.unwrap();
    all.iter()
        .filter(|a| a.start == date.to_datetime(time) && a.status.holds_slot())
        .count()
}

#[tokio::test]
async fn a_repeated_tool_call_id_writes_once_and_hears_the_same_answer() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let first = desk
        .ask_as(&call, "tc-book", booking(date, time, &provider))
        .await;
    let again = desk
        .ask_as(&call, "tc-book", booking(date, time, &provider))
        .await;
    assert!(
        first.as_ref().is_ok_and(|a| a.starts_with("Booked")),
        "{first:?}"
    );
    assert_eq!(first, again);
    assert_eq!(olivias_bookings_at(&desk, date, time).await, 1);
    let reasons: Vec<_> = desk
        .audited(Tool::BookAppointment)
        .into_iter()
        .map(|e| (e.outcome, e.reason.unwrap_or_default()))
        .collect();
    assert_eq!(reasons.len(), 3, "intent, outcome, repeat: {reasons:?}");
    assert_eq!(reasons[2].0, AuditOutcome::Success);
    assert!(reasons[2].1.contains("repeated toolCallId"), "{reasons:?}");
}

#[tokio::test]
async fn copies_of_one_tool_call_arriving_together_write_once() {
    let desk = Desk::with_write_delay(Duration::from_millis(50)).await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let (a, b, c) = tokio::join!(
        desk.ask_as(&call, "tc-same", booking(date, time, &provider)),
        desk.ask_as(&call, "tc-same", booking(date, time, &provider)),
        desk.ask_as(&call, "tc-same", booking(date, time, &provider)),
    );
    assert!(a.is_ok() && a == b && b == c, "{a:?} {b:?} {c:?}");
    assert_eq!(olivias_bookings_at(&desk, date, time).await, 1);
}

#[tokio::test]
async fn the_same_booking_under_another_tool_call_id_is_the_first_ones_outcome() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let first = desk
        .ask(&call, booking(date, time, &provider))
        .await
        .unwrap();
    let again = desk
        .ask(&call, booking(date, time, &provider))
        .await
        .unwrap();
    assert_ne!(first, again);
    assert!(
        again.contains("already made and confirmed") && again.contains("Nothing new was done"),
        "{again}"
    );
    assert_eq!(olivias_bookings_at(&desk, date, time).await, 1);
}

#[tokio::test]
async fn a_cancellation_asked_twice_is_made_once() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let booked = desk
        .ask(&call, booking(date, time, &provider))
        .await
        .unwrap();
    let reference = booked
        .rsplit("Reference ")
        .next()
        .unwrap()
        .trim_end_matches('.');
    let cancel = || crate::receptionist::tools::booking::CancelAppointment {
        identity: Identity::default(),
        appointment: crate::pms::AppointmentId::new(reference),
        reason: None,
    };
    let first = desk.ask(&call, cancel()).await.unwrap();
    let again = desk.ask(&call, cancel()).await.unwrap();
    assert!(first.starts_with("Cancellation done"), "{first}");
    assert!(again.contains("already made"), "{again}");
    assert_eq!(olivias_bookings_at(&desk, date, time).await, 0);
    let intents = desk
        .audited(Tool::CancelAppointment)
        .iter()
        .filter(|e| e.outcome == AuditOutcome::Intent)
        .count();
    assert_eq!(intents, 1, "one write was attempted");
}
