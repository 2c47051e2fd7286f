//! A write the practice's system took, whose outcome then cannot be audited: the caller is not
//! told that nothing was done (it was), and is told not to repeat it.

use super::*;
use crate::{
    audit::{AuditAction, AuditOutcome},
    receptionist::{AUDIT_DOWN_AFTER_WRITE, tools::booking::BookAppointment},
};

#[tokio::test]
async fn a_write_made_but_not_audited_is_never_reported_as_not_done() {
    let desk = Desk::new().await;
    let date = light_day();
    let (time, provider) = desk.first_free(date, 30, None).await;
    // Intents and reads are recorded; the outcome of the write is not (the disk filled).
    desk.audit.refuse(Some(|e| {
        e.outcome != AuditOutcome::Intent && e.action != AuditAction::Read
    }));
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let booking = BookAppointment {
        identity: Identity::default(),
        date,
        time,
        length_minutes: Some(30),
        provider: Some(provider),
        reason: None,
    };
    let said = desk.ask(&call, booking).await;
    assert_eq!(said, Err(AUDIT_DOWN_AFTER_WRITE.to_owned()));
    assert!(!AUDIT_DOWN_AFTER_WRITE.contains("nothing was done"));
    let intents = desk.audited(Tool::BookAppointment);
    assert_eq!(
        intents.iter().map(|e| e.outcome).collect::<Vec<_>>(),
        [AuditOutcome::Intent],
        "the intent was recorded before the write"
    );
    let olivia = crate::pms::PatientId::new("1001");
    let booked = desk.pms.appointments_for_patient(&olivia).await.unwrap();
    assert!(
        booked.iter().any(|a| a.start == date.to_datetime(time)),
        "the practice's system has the booking"
    );
}
