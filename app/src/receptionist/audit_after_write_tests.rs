//! A write the practice's system took, whose outcome then cannot be audited: the caller is not
//! told that nothing was done (it was), and is told not to repeat it.

use std::sync::Mutex;

use async_trait::async_trait;
use jiff::civil::Time;

use super::*;
use crate::audit::{AuditError, AuditReceipt};
use crate::pms::sandbox::fixture;
use crate::practices::{LocalDirectory, LocalOptions, MemoryCredentials};

/// Records intents and reads; refuses every other entry (the disk filled after the intent).
#[derive(Default)]
struct OutcomesRefused(Mutex<Vec<AuditOutcome>>);

#[async_trait]
impl AuditSink for OutcomesRefused {
    async fn record(&self, event: AuditEvent) -> Result<AuditReceipt, AuditError> {
        let mut seen = self.0.lock().unwrap();
        seen.push(event.outcome);
        if event.outcome == AuditOutcome::Intent || event.action == AuditAction::Read {
            return Ok(AuditReceipt {
                id: uuid::Uuid::now_v7(),
                seq: seen.len() as u64,
            });
        }
        Err(AuditError::Closed)
    }
    async fn close(&self) {}
}

#[tokio::test]
async fn a_write_made_but_not_audited_is_never_reported_as_not_done() {
    let clock = crate::clock::Clock::frozen("2030-03-04T15:00:00Z".parse().unwrap()); // Monday 07:00 in LA
    let options = LocalOptions {
        write_delay: Duration::ZERO,
        extra_patients: Vec::new(),
        sikka: None,
        credentials: Arc::new(MemoryCredentials::default()),
        clock,
        schedule: None,
    };
    let directory = Arc::new(LocalDirectory::load(None, &options).unwrap());
    let audit = Arc::new(OutcomesRefused::default());
    let receptionist = Arc::new(Receptionist::new(
        directory,
        audit.clone(),
        Arc::new(MemoryLedger::default()),
        ReceptionistSettings {
            clock,
            ..Default::default()
        },
    ));
    let call = CallInfo {
        call_id: Some("call-1".into()),
        caller: Some(E164::parse("+13105550100").unwrap()), // Olivia Bennett, on file
        practice: PracticeKey {
            phone_number_id: Some("pn_demo".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    // A Tuesday two weeks on, in the afternoon: Dr. Lee works, and the slot is re-checked.
    let date = jiff::civil::Date::constant(2030, 3, 19);
    let mut answer = None;
    for hour in 13..17 {
        let request = ToolRequest::BookAppointment {
            identity: Identity::default(),
            date,
            time: Time::constant(hour, 0, 0, 0),
            length_minutes: Some(30),
            provider: Some(crate::pms::ProviderId::new(fixture::DR_LEE)),
            reason: None,
        };
        let said = receptionist
            .answer(
                &call,
                Tool::BookAppointment,
                &format!("tc-{hour}"),
                Ok(request),
                Duration::from_secs(5),
            )
            .await;
        if audit.0.lock().unwrap().contains(&AuditOutcome::Intent) {
            answer = Some(said);
            break;
        }
    }
    let said = answer.expect("one of the afternoon's slots was free and written");
    assert_eq!(said, Err(AUDIT_DOWN_AFTER_WRITE.to_owned()));
    assert!(!AUDIT_DOWN_AFTER_WRITE.contains("nothing was done"));
}
