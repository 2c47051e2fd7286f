//! Caller verification: who may hear a patient's data, and for how long.

use super::*;
use crate::{
    audit::AuditOutcome,
    pms::sandbox::fixture::FAMILY_PHONE,
    receptionist::tools::{
        booking::GetAppointments, patients::GetPatientInfo, patients::SearchPatients,
    },
};

fn info(identity: Identity) -> GetPatientInfo {
    GetPatientInfo { identity }
}

#[tokio::test]
async fn the_caller_id_of_exactly_one_patient_verifies_them() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(OLIVIA_PHONE));
    let said = desk.ask(&call, info(Identity::default())).await.unwrap();
    assert!(
        said.contains("\"first_name\":\"Olivia\"") && said.contains("Bennett"),
        "{said}"
    );
    let audited = desk.audited(Tool::GetPatientInfo);
    assert_eq!(audited[0].outcome, AuditOutcome::Success);
    assert_eq!(audited[0].patient_ids[0].as_str(), "1001");
}

#[tokio::test]
async fn an_unknown_number_hears_nothing_until_name_and_birth_date_match() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(STRANGER_PHONE));
    let refused = desk
        .ask(&call, info(Identity::default()))
        .await
        .unwrap_err();
    assert!(
        !refused.contains("Olivia") && refused.contains("date of birth"),
        "{refused}"
    );
    let wrong = desk
        .ask(&call, info(who("Olivia", "Bennett", "1985-03-15")))
        .await
        .unwrap_err();
    assert!(!wrong.contains("1985-03-14"), "{wrong}");
    let right = desk
        .ask(&call, info(who("olivia", " BENNETT ", "1985-03-14")))
        .await
        .unwrap();
    assert!(right.contains("\"patient_id\":\"1001\""), "{right}");
    let outcomes: Vec<_> = desk
        .audited(Tool::GetPatientInfo)
        .iter()
        .map(|e| (e.outcome, e.patient_ids.len()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (AuditOutcome::Denied, 0),
            (AuditOutcome::Denied, 0),
            (AuditOutcome::Success, 1)
        ]
    );
}

#[tokio::test]
async fn a_verification_lasts_for_its_call_only() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(STRANGER_PHONE));
    desk.ask(&call, info(who("Olivia", "Bennett", "1985-03-14")))
        .await
        .unwrap();
    let again = desk
        .ask(
            &call,
            GetAppointments {
                identity: Identity::default(),
            },
        )
        .await;
    assert!(again.is_ok_and(|a| a.contains("\"patient_id\":\"1001\"")));
    let other_call = desk.call("call-2", Some(STRANGER_PHONE));
    let refused = desk
        .ask(
            &other_call,
            GetAppointments {
                identity: Identity::default(),
            },
        )
        .await;
    assert!(refused.is_err_and(|r| !r.contains("1001")));
}

#[tokio::test]
async fn a_shared_family_number_names_first_names_only_and_a_birth_date_picks_one() {
    let desk = Desk::new().await;
    let call = desk.call("call-1", Some(FAMILY_PHONE));
    let said = desk
        .ask(
            &call,
            SearchPatients {
                identity: Identity::default(),
            },
        )
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&said).unwrap();
    assert_eq!(body["verified"], false);
    assert_eq!(
        body["household_first_names"],
        serde_json::json!(["Daniel", "Elena", "Sofia", "Mateo"])
    );
    assert!(
        !said.contains("Garcia") && !said.contains("patient_id"),
        "{said}"
    );
    let sofia = Identity {
        first_name: Some(Phi::new("Sofia".into())),
        birth_date: Some(Phi::new("2012-02-17".parse().unwrap())),
        ..Default::default()
    };
    let picked = desk.ask(&call, info(sofia)).await.unwrap();
    assert!(
        picked.contains("\"first_name\":\"Sofia\"") && picked.contains("1008"),
        "{picked}"
    );
}
