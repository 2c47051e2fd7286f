//! Tests of the sandbox practice: fixture facts, patient lookups and writebacks.

use std::time::Duration;

use jiff::Span;
use jiff::civil::{Date, Weekday};

use super::fixture::{DR_LEE, DR_ORTIZ, FAMILY_PHONE, HYGIENIST_SHAH, at};
use super::*;
use crate::pms::{AppointmentStatus, OperatoryId, ProviderId, WritebackState};

pub(super) const TODAY: Date = Date::constant(2030, 3, 4); // a Monday

pub(super) fn sandbox(today: Date) -> SandboxPractice {
    SandboxPractice::new(SandboxConfig::new(today)).unwrap()
}

fn phone(raw: &str) -> E164 {
    E164::parse(raw).unwrap()
}

fn by_phone(raw: &str) -> PatientQuery {
    PatientQuery {
        phone: Some(phone(raw)),
        ..Default::default()
    }
}

fn names(patients: &[Patient]) -> Vec<String> {
    patients
        .iter()
        .map(|p| format!("{} {}", p.first_name.expose(), p.last_name.expose()))
        .collect()
}

fn new_booking(patient: &str, provider: &str, room: &str, start: DateTime) -> NewAppointment {
    NewAppointment {
        patient_id: PatientId::new(patient),
        provider_id: ProviderId::new(provider),
        operatory_id: OperatoryId::new(room),
        start,
        length_minutes: 30,
        description: Phi::new("Exam".into()),
        note: None,
    }
}

#[tokio::test]
async fn the_practice_has_three_providers_four_operatories_and_a_weekly_schedule() {
    let s = sandbox(TODAY);
    let providers = s.providers().await.unwrap();
    let names: Vec<_> = providers.iter().map(|p| p.display_name.as_str()).collect();
    assert_eq!(
        names,
        ["Dr. Maya Lee", "Dr. Samuel Ortiz", "Priya Shah, RDH"]
    );
    let rooms = s.operatories().await.unwrap();
    assert_eq!(
        (rooms.len(), rooms.iter().filter(|o| o.hidden).count()),
        (4, 1)
    );
    let working = |blocks: &[OpenBlock]| {
        let mut ids: Vec<_> = blocks
            .iter()
            .filter_map(|b| b.provider_id.clone())
            .collect();
        ids.dedup();
        ids.iter()
            .map(|p| p.as_str().to_string())
            .collect::<Vec<_>>()
    };
    for offset in 0..7 {
        let date = TODAY + Span::new().days(offset);
        let blocks = s.open_blocks(date).await.unwrap();
        match date.weekday() {
            Weekday::Sunday => assert!(blocks.is_empty()),
            Weekday::Monday => assert_eq!(working(&blocks), [DR_LEE, DR_ORTIZ]),
            Weekday::Saturday => {
                assert_eq!(working(&blocks), [DR_LEE, HYGIENIST_SHAH]);
                assert!(
                    blocks.iter().all(
                        |b| b.start == at(date, 9, 0).time() && b.end == at(date, 13, 0).time()
                    )
                );
            }
            Weekday::Friday => {
                let ortiz: Vec<_> = blocks
                    .iter()
                    .filter(|b| b.provider_id == Some(ProviderId::new(DR_ORTIZ)))
                    .collect();
                assert_eq!(ortiz.len(), 1);
                assert_eq!(ortiz[0].end, at(date, 12, 0).time());
            }
            _ => {
                assert_eq!(working(&blocks), [DR_LEE, DR_ORTIZ, HYGIENIST_SHAH]);
                assert!(!blocks.iter().any(|b| b.start < at(date, 13, 0).time() && b.end > at(date, 12, 0).time()));
            }
        }
    }
}

#[tokio::test]
async fn patients_include_a_family_sharing_a_phone_and_an_inactive_patient() {
    let s = sandbox(TODAY);
    let all = s.find_patients(&PatientQuery::default()).await.unwrap();
    assert_eq!(all.len(), 50);
    let family = s.find_patients(&by_phone(FAMILY_PHONE)).await.unwrap();
    assert_eq!(
        names(&family),
        [
            "Daniel Garcia",
            "Elena Garcia",
            "Sofia Garcia",
            "Mateo Garcia"
        ]
    );
    assert!(
        family
            .iter()
            .all(|p| p.guarantor_id == Some(PatientId::new("1006")))
    );
    let inactive: Vec<_> = all.iter().filter(|p| !p.active).collect();
    assert_eq!(inactive.len(), 1);
    assert_eq!(inactive[0].id.as_str(), "1049");
    assert_eq!(inactive[0].first_name.expose(), "Walter");
    let olivia = s.patient(&PatientId::new("1001")).await.unwrap();
    assert_eq!(olivia.phones.expose(), &vec![phone("+13105550100")]);
    assert_eq!(
        olivia.birth_date.unwrap().into_inner(),
        Date::constant(1985, 3, 14)
    );
}

#[tokio::test]
async fn find_patients_matches_every_set_field() {
    let s = sandbox(TODAY);
    // Noah Patel (1004) has a second, home number.
    assert_eq!(
        names(&s.find_patients(&by_phone("(818) 555-0103")).await.unwrap()),
        ["Noah Patel"]
    );
    assert_eq!(
        names(&s.find_patients(&by_phone("+13105550103")).await.unwrap()),
        ["Noah Patel"]
    );
    let named = |first: &str, last: &str| PatientQuery {
        first_name: Some(Phi::new(first.into())),
        last_name: Some(Phi::new(last.into())),
        ..Default::default()
    };
    assert_eq!(
        names(&s.find_patients(&named("  sofia ", "GARCIA")).await.unwrap()),
        ["Sofia Garcia"]
    );
    let born = |d: Date| PatientQuery {
        birth_date: Some(Phi::new(d)),
        ..named("Sofia", "Garcia")
    };
    assert_eq!(
        s.find_patients(&born(Date::constant(2012, 2, 17)))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.find_patients(&born(Date::constant(2012, 2, 18)))
            .await
            .unwrap()
            .is_empty()
    );
    let wrong_phone = PatientQuery {
        phone: Some(phone("+13105550100")),
        ..named("Sofia", "Garcia")
    };
    assert!(s.find_patients(&wrong_phone).await.unwrap().is_empty());
    let family_first = PatientQuery {
        phone: Some(phone(FAMILY_PHONE)),
        ..named("mateo", "garcia")
    };
    assert_eq!(
        names(&s.find_patients(&family_first).await.unwrap()),
        ["Mateo Garcia"]
    );
}

#[tokio::test]
async fn extra_patients_follow_the_built_in_ones() {
    let mut config = SandboxConfig::new(TODAY);
    config.extra_patients = serde_json::from_str(
        r#"[{"first_name":"Canary","last_name":"Tester","birth_date":"1990-01-02","phone":"(213) 555-0199"}]"#,
    )
    .unwrap();
    let s = SandboxPractice::new(config).unwrap();
    let found = s.find_patients(&by_phone("+12135550199")).await.unwrap();
    assert_eq!((found.len(), found[0].id.as_str()), (1, "1051"));
    let mut bad = SandboxConfig::new(TODAY);
    bad.extra_patients = vec![SeedPatient {
        first_name: "A".into(),
        last_name: "B".into(),
        birth_date: TODAY,
        phone: Some("12".into()),
        home_phone: None,
        work_phone: None,
        email: None,
    }];
    assert!(SandboxPractice::new(bad).is_err());
}

#[tokio::test]
async fn fixture_appointments_are_deterministic_and_never_double_booked() {
    let from = at(TODAY - Span::new().days(31), 0, 0);
    let to = at(TODAY + Span::new().days(31), 0, 0);
    let a = sandbox(TODAY).appointments_between(from, to).await.unwrap();
    let b = sandbox(TODAY).appointments_between(from, to).await.unwrap();
    let key = |x: &Appointment| {
        (
            x.id.clone(),
            x.start,
            x.provider_id.clone(),
            x.patient_id.clone(),
        )
    };
    assert_eq!(
        a.iter().map(key).collect::<Vec<_>>(),
        b.iter().map(key).collect::<Vec<_>>()
    );
    assert!(a.len() > 500, "{}", a.len());
    assert!(a.windows(2).all(|w| w[0].start <= w[1].start));
    let past: Vec<_> = a.iter().filter(|x| x.start.date() < TODAY).collect();
    assert!(past.iter().all(|x| matches!(
        x.status,
        AppointmentStatus::Completed | AppointmentStatus::Broken | AppointmentStatus::Cancelled
    )));
    assert!(
        past.iter()
            .any(|x| x.status == AppointmentStatus::Completed)
    );
    let future: Vec<_> = a.iter().filter(|x| x.start.date() >= TODAY).collect();
    assert!(
        future
            .iter()
            .any(|x| x.status == AppointmentStatus::Cancelled)
    );
    assert!(
        future
            .iter()
            .all(|x| x.status != AppointmentStatus::Completed)
    );
    let holding: Vec<_> = a.iter().filter(|x| x.status.holds_slot()).collect();
    for (i, x) in holding.iter().enumerate() {
        for y in &holding[i + 1..] {
            let overlap = x.start < y.end() && y.start < x.end();
            assert!(
                !(overlap && (x.provider_id == y.provider_id || x.operatory_id == y.operatory_id)),
                "{x:?} {y:?}"
            );
        }
    }
}

#[tokio::test]
async fn every_family_member_has_an_appointment_ahead() {
    let s = sandbox(TODAY);
    for id in ["1006", "1007", "1008", "1009", "1001"] {
        let mine = s
            .appointments_for_patient(&PatientId::new(id))
            .await
            .unwrap();
        assert!(
            mine.iter()
                .any(|a| a.start.date() >= TODAY && a.status.holds_slot()),
            "{id}"
        );
    }
    assert_eq!(
        s.appointments_for_patient(&PatientId::new("9"))
            .await
            .unwrap_err(),
        PmsError::NotFound
    );
}

#[tokio::test]
async fn a_booking_is_pending_then_applied_with_a_new_id() {
    let s = sandbox(TODAY);
    let start = at(TODAY + Span::new().days(60), 10, 0);
    let wb = s
        .book(new_booking("1001", DR_LEE, "OP1", start))
        .await
        .unwrap();
    assert_eq!(
        (wb.id.as_str(), &wb.state),
        ("WB-1", &WritebackState::Pending)
    );
    let WritebackState::Applied {
        created_id: Some(id),
    } = s.writeback(&wb.id).await.unwrap().state
    else {
        panic!("not applied");
    };
    let booked = s.appointment(&AppointmentId::new(id)).await.unwrap();
    assert_eq!(
        (booked.start, booked.status),
        (start, AppointmentStatus::Scheduled)
    );
    assert_eq!(
        s.writeback(&WritebackId::new("WB-99")).await,
        Err(PmsError::NotFound)
    );
}

#[tokio::test]
async fn writes_are_validated_at_once() {
    let s = sandbox(TODAY);
    let start = at(TODAY + Span::new().days(60), 10, 0);
    let err = |r: PmsResult<Writeback>| r.unwrap_err();
    assert_eq!(
        err(s.book(new_booking("9999", DR_LEE, "OP1", start)).await),
        PmsError::NotFound
    );
    assert_eq!(
        err(s.book(new_booking("1001", "NOPE", "OP1", start)).await),
        PmsError::NotFound
    );
    assert_eq!(
        err(s.book(new_booking("1001", DR_LEE, "OP9", start)).await),
        PmsError::NotFound
    );
    assert!(matches!(
        err(s.book(new_booking("1049", DR_LEE, "OP1", start)).await),
        PmsError::Rejected(_)
    ));
    let missing = AppointmentId::new("1");
    assert_eq!(err(s.cancel(&missing, None).await), PmsError::NotFound);
    let to = Reschedule {
        provider_id: ProviderId::new(DR_LEE),
        operatory_id: None,
        start,
        length_minutes: 30,
    };
    assert_eq!(err(s.reschedule(&missing, to).await), PmsError::NotFound);
    let update = PatientUpdate {
        email: Some(Phi::new("a@example.com".into())),
        ..Default::default()
    };
    assert_eq!(
        err(s.update_patient(&PatientId::new("1"), update).await),
        PmsError::NotFound
    );
    assert!(matches!(
        err(s
            .update_patient(&PatientId::new("1001"), PatientUpdate::default())
            .await),
        PmsError::Rejected(_)
    ));
}

#[tokio::test(start_paused = true)]
async fn writes_wait_for_the_delay_and_a_double_booking_fails_when_applied() {
    let mut config = SandboxConfig::new(TODAY);
    config.write_delay = Duration::from_secs(20);
    let s = SandboxPractice::new(config).unwrap();
    let start = at(TODAY + Span::new().days(60), 10, 0);
    let first = s
        .book(new_booking("1001", DR_LEE, "OP1", start))
        .await
        .unwrap();
    let second = s
        .book(new_booking("1002", DR_LEE, "OP2", start))
        .await
        .unwrap();
    let other_room = s
        .book(new_booking("1003", DR_ORTIZ, "OP1", start))
        .await
        .unwrap();
    tokio::time::advance(Duration::from_secs(19)).await;
    assert_eq!(
        s.writeback(&first.id).await.unwrap().state,
        WritebackState::Pending
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(matches!(
        s.writeback(&first.id).await.unwrap().state,
        WritebackState::Applied { .. }
    ));
    assert!(matches!(
        s.writeback(&second.id).await.unwrap().state,
        WritebackState::Failed { .. }
    ));
    assert!(matches!(
        s.writeback(&other_room.id).await.unwrap().state,
        WritebackState::Failed { .. }
    ));
}

#[tokio::test]
async fn reschedule_cancel_create_and_update_apply() {
    let s = sandbox(TODAY);
    let start = at(TODAY + Span::new().days(60), 10, 0);
    let wb = s
        .book(new_booking("1001", DR_LEE, "OP1", start))
        .await
        .unwrap();
    let WritebackState::Applied {
        created_id: Some(id),
    } = s.writeback(&wb.id).await.unwrap().state
    else {
        panic!("not applied");
    };
    let id = AppointmentId::new(id);
    let later = start + Span::new().days(1);
    let to = Reschedule {
        provider_id: ProviderId::new(DR_ORTIZ),
        operatory_id: None,
        start: later,
        length_minutes: 60,
    };
    let moved = s.reschedule(&id, to).await.unwrap();
    s.writeback(&moved.id).await.unwrap();
    let now = s.appointment(&id).await.unwrap();
    assert_eq!(
        (now.start, now.provider_id.as_str(), now.length_minutes),
        (later, DR_ORTIZ, 60)
    );
    assert!(
        s.appointments_between(start, start + Span::new().hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    s.cancel(&id, None).await.unwrap();
    assert_eq!(
        s.appointment(&id).await.unwrap().status,
        AppointmentStatus::Cancelled
    );

    let new = NewPatient {
        first_name: Phi::new("Nina".into()),
        last_name: Phi::new("Quinn".into()),
        birth_date: Phi::new(Date::constant(1999, 9, 9)),
        phone: Phi::new(phone("+12135550111")),
        email: None,
        provider_id: ProviderId::new(DR_LEE),
    };
    let created = s.create_patient(new.clone()).await.unwrap();
    let state = s.writeback(&created.id).await.unwrap().state;
    assert_eq!(
        state,
        WritebackState::Applied {
            created_id: Some("1051".into())
        }
    );
    assert_eq!(s.create_patient(new).await, Err(PmsError::Conflict));
    let update = PatientUpdate {
        phone: Some(Phi::new(phone("+12135550112"))),
        ..Default::default()
    };
    s.update_patient(&PatientId::new("1051"), update)
        .await
        .unwrap();
    let nina = s.patient(&PatientId::new("1051")).await.unwrap();
    assert_eq!(
        nina.phones.expose(),
        &vec![phone("+12135550112"), phone("+12135550111")]
    );
}
