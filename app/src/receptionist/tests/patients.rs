//! Patient matching and registration: an existing patient is never registered twice, and a
//! registration is one write.

use super::*;
use crate::{
    pms::PatientQuery,
    receptionist::tools::patients::{CreatePatient, GetPatientInfo, UpdatePatient},
};

fn registration(first: &str, last: &str, born: &str) -> CreatePatient {
    CreatePatient {
        first_name: Phi::new(first.into()),
        last_name: Phi::new(last.into()),
        birth_date: Phi::new(born.parse().unwrap()),
        phone: None,
        email: None,
    }
}

#[tokio::test]
async fn an_existing_patient_is_not_registered_again_and_is_verified_for_the_call() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(STRANGER_PHONE));
    let said = desk
        .ask(&call, registration("OLIVIA", "bennett", "1985-03-14"))
        .await
        .unwrap();
    assert!(
        said.contains("already a patient") && said.contains("1001"),
        "{said}"
    );
    let named = PatientQuery {
        first_name: Some(Phi::new("Olivia".into())),
        last_name: Some(Phi::new("Bennett".into())),
        ..Default::default()
    };
    assert_eq!(desk.pms.find_patients(&named).await.unwrap().len(), 1);
    let info = desk
        .ask(
            &call,
            GetPatientInfo {
                identity: Identity::default(),
            },
        )
        .await;
    assert!(info.is_ok_and(|i| i.contains("\"patient_id\":\"1001\"")));
}

#[tokio::test]
async fn a_registration_still_pending_is_not_sent_twice() {
    let desk = Desk::with_write_delay(Duration::from_secs(60)).await;
    let call = desk.call("call-1", Some(STRANGER_PHONE));
    let first = desk
        .ask(&call, registration("Ada", "Lovelace", "1990-12-10"))
        .await
        .unwrap();
    assert!(first.contains("has not confirmed it yet"), "{first}");
    let again = desk
        .ask(&call, registration(" ada ", "LOVELACE", "1990-12-10"))
        .await
        .unwrap();
    assert!(again.contains("already sent and is pending"), "{again}");
    let intents = desk
        .audited(Tool::CreatePatient)
        .iter()
        .filter(|e| e.outcome == crate::audit::AuditOutcome::Intent)
        .count();
    assert_eq!(intents, 1);
}

#[tokio::test]
async fn a_new_patient_is_registered_with_the_callers_number_and_verified() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(STRANGER_PHONE));
    let said = desk
        .ask(&call, registration("Ada", "Lovelace", "1990-12-10"))
        .await
        .unwrap();
    assert!(said.starts_with("Registered Ada"), "{said}");
    let by_phone = PatientQuery {
        phone: Some(E164::parse(STRANGER_PHONE).unwrap()),
        ..Default::default()
    };
    let found = desk.pms.find_patients(&by_phone).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].first_name.expose(), "Ada");
    let info = desk
        .ask(
            &call,
            GetPatientInfo {
                identity: Identity::default(),
            },
        )
        .await
        .unwrap();
    assert!(info.contains("Lovelace"), "{info}");
}

#[tokio::test]
async fn an_update_without_a_change_is_refused_before_anything_is_asked() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let nothing = UpdatePatient {
        identity: Identity::default(),
        phone: None,
        email: None,
        preferred_name: None,
    };
    let refused = desk.ask(&call, nothing).await.unwrap_err();
    assert!(refused.starts_with("Nothing to update"), "{refused}");
    let audited = desk.audited(Tool::UpdatePatient);
    assert_eq!(audited.len(), 1);
    assert!(audited[0].patient_ids.is_empty());
}

#[test]
fn a_registration_request_never_shows_the_person() {
    let shown = format!("{:?}", registration("Ada", "Lovelace", "1990-12-10"));
    assert!(
        !shown.contains("Ada") && !shown.contains("Lovelace") && !shown.contains("1990"),
        "{shown}"
    );
}
