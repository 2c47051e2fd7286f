//! Every example response Sikka documents for the endpoints this adapter reads or writes goes
//! through the adapter's parsers. The bodies are the repository's own copy,
//! `tests/data/sikka/adapter-examples.json` (see `tests/data/README.md` for where they come from).

use std::collections::BTreeSet;

use jiff::civil::date;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::issued_key;
use super::convert::{self, BadItem};
use super::error::SikkaError;
use super::practice::pick_cancel_status;
use super::schedule;
use super::wire::{
    AppointmentItem, AppointmentStatusItem, AuthorizedPracticeItem, ListEnvelope, Message,
    OperatoryItem, PatientItem, PracticeItem, PracticeVariableItem, ProviderItem, RequestKeyAnswer,
    ScheduleItem,
};
use crate::pms::{AppointmentStatus, PatientId, WritebackId, WritebackState};

const COPY: &str = include_str!("../../../../tests/data/sikka/adapter-examples.json");

/// The endpoints the adapter parses, as `(method, path below /v4/)`.
const PARSED: &[(&str, &str)] = &[
    ("GET", "appointments"),
    ("GET", "patients"),
    ("GET", "practices"),
    ("GET", "providers"),
    ("GET", "practice_variables"),
    ("GET", "appointment_statuses"),
    ("GET", "authorized_practices"),
    ("GET", "practice_schedule"),
    ("GET", "operatories"),
    ("GET", "writeback_status"),
    ("POST", "appointment"),
    ("POST", "patient"),
    ("PUT", "appointments/{appointment_sr_no}"),
    ("PATCH", "appointments/{appointment_sr_no}"),
    ("PATCH", "patient/{patient_id}"),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Example {
    file: String,
    name: String,
    method: String,
    endpoint: String,
    code: Option<u16>,
    body: String,
}

fn copy() -> Vec<Example> {
    serde_json::from_str(COPY).expect("adapter-examples.json parses")
}

fn list<T: serde::de::DeserializeOwned>(ex: &Example) -> Vec<T> {
    let page: ListEnvelope<T> =
        serde_json::from_str(&ex.body).unwrap_or_else(|e| panic!("{} {}: {e}", ex.file, ex.name));
    assert!(!page.items.is_empty(), "{} {}: no items", ex.file, ex.name);
    page.items
}

/// Placeholder examples (`"xx"`, `"date"`) are Sikka's field lists, not data.
fn is_placeholder(ex: &Example) -> bool {
    ex.body.contains("\"xx\"") || ex.body.contains("\"##\"")
}

fn understand(ex: &Example) {
    let placeholder = is_placeholder(ex);
    match (ex.method.as_str(), ex.endpoint.as_str()) {
        ("GET", "appointments") => {
            for item in list::<AppointmentItem>(ex) {
                let got = convert::appointment(item, None);
                if placeholder {
                    let want = BadItem {
                        item: "appointment",
                        field: "date",
                    };
                    assert_eq!(got.unwrap_err(), want);
                } else {
                    let a = got.unwrap();
                    assert_eq!(a.id.as_str(), "70670");
                    assert_eq!(a.patient_id.as_str(), "5383");
                    assert_eq!(a.provider_id.as_str(), "DMD2");
                    assert_eq!(a.start, date(2020, 9, 29).at(10, 30, 0, 0));
                    assert_eq!(a.length_minutes, 60);
                    assert_eq!(a.status, AppointmentStatus::Other("status".into()));
                }
            }
        }
        ("GET", "patients") => {
            for item in list::<PatientItem>(ex) {
                let p = convert::patient(item).unwrap();
                assert!(
                    p.phones.expose().is_empty(),
                    "masked phones are not numbers"
                );
                assert!(p.active);
                if !placeholder {
                    assert_eq!(p.id.as_str(), "799601");
                    assert_eq!(p.first_name.expose(), "Carlene");
                    assert_eq!(p.last_name.expose(), "Victoria");
                    assert_eq!(p.birth_date.unwrap().into_inner(), date(1984, 12, 10));
                    assert_eq!(p.guarantor_id, Some(PatientId::new("799600")));
                    assert_eq!(p.email.unwrap().expose(), "xxxx@xxxx.com");
                } else {
                    assert!(p.birth_date.is_none() && p.email.is_none());
                }
            }
        }
        ("GET", "practices") => {
            for item in list::<PracticeItem>(ex) {
                assert!(item.practice_id.is_some() && item.cust_id.is_some());
                if !placeholder {
                    assert_eq!(item.cust_id.as_deref(), Some("1"));
                }
            }
        }
        ("GET", "providers") => {
            for item in list::<ProviderItem>(ex) {
                let p = convert::provider(item).unwrap();
                if !placeholder {
                    assert_eq!(p.id.as_str(), "VLP");
                    assert_eq!(p.role, "assistant");
                    assert!(!p.active, "Inactive");
                }
            }
        }
        ("GET", "practice_variables") => {
            let values: Vec<String> = list::<PracticeVariableItem>(ex)
                .into_iter()
                .filter_map(|v| v.value)
                .collect();
            if !placeholder {
                assert_eq!(values.len(), 4);
                assert_eq!(
                    pick_cancel_status(&values),
                    None,
                    "no cancel status among them"
                );
                for v in &values {
                    assert_ne!(
                        convert::appointment_status(Some(v), None),
                        AppointmentStatus::Cancelled
                    );
                }
            }
        }
        ("GET", "appointment_statuses") => {
            let statuses: Vec<AppointmentStatus> = list::<AppointmentStatusItem>(ex)
                .into_iter()
                .map(|s| convert::appointment_status(s.status.as_deref(), None))
                .collect();
            if !placeholder {
                use AppointmentStatus::*;
                assert_eq!(statuses, vec![Scheduled, Scheduled, Confirmed]);
            }
        }
        ("GET", "authorized_practices") => {
            for item in list::<AuthorizedPracticeItem>(ex) {
                assert!(item.office_id.is_some() && item.secret_key.is_some());
                assert!(item.practice_management_system.is_some());
            }
        }
        ("GET", "practice_schedule") => {
            let rows = list::<ScheduleItem>(ex);
            let get_all = ex.name.contains("get_all");
            for row in &rows {
                assert!(row.resource_type.is_some() && row.date.is_some());
                for day in [
                    "sunday",
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                ] {
                    for n in 1..=3 {
                        for edge in ["start", "end"] {
                            let field = format!("{day}_{edge}_{n}");
                            assert_eq!(row.day_field(&field).is_some(), get_all, "{field}");
                        }
                    }
                    assert_eq!(row.day_field(&format!("{day}_holiday")).is_some(), get_all);
                }
            }
            assert!(
                schedule::open_blocks(&rows, date(2024, 6, 3)).is_empty(),
                "placeholders"
            );
        }
        ("GET", "operatories") => {
            let ops: Vec<_> = list::<OperatoryItem>(ex)
                .into_iter()
                .map(|o| convert::operatory(o).unwrap())
                .collect();
            assert_eq!(ops[0].id.as_str(), "Test1");
            assert!(ops.iter().all(|o| !o.hidden));
        }
        ("GET", "writeback_status") => {
            let body: Value = serde_json::from_str(&ex.body).unwrap();
            let wb = convert::writeback_status(&body, &WritebackId::new("490481")).unwrap();
            assert_eq!(wb.state, WritebackState::Applied { created_id: None });
        }
        (
            _,
            "appointment" | "patient" | "appointments/{appointment_sr_no}" | "patient/{patient_id}",
        ) => {
            let message: Message = serde_json::from_str(&ex.body).unwrap();
            let http: u16 = message.http_code.as_deref().unwrap().parse().unwrap();
            if http >= 400 {
                let e = SikkaError::from_answer(http, Some(&message));
                assert!(
                    e.wants_new_key(),
                    "API1004: request key missing/invalid: {e:?}"
                );
            } else {
                let wb = convert::accepted(&message).expect("writeback id");
                assert!(wb.id.as_str().chars().all(|c| c.is_ascii_digit()));
                assert_eq!(wb.state, WritebackState::Pending);
                let id_in_info = message.more_information.unwrap();
                assert!(id_in_info.ends_with(&format!("id={}", wb.id)));
            }
        }
        other => panic!("no parser for {other:?}"),
    }
}

#[test]
fn every_documented_example_is_understood() {
    let examples = copy();
    let mut covered = BTreeSet::new();
    for ex in &examples {
        understand(ex);
        covered.insert((ex.method.clone(), ex.endpoint.clone()));
    }
    for (method, path) in PARSED {
        assert!(
            covered.contains(&(method.to_string(), path.to_string())),
            "no documented example for {method} {path}"
        );
    }
    assert_eq!(examples.len(), 43);
}

/// Sikka documents the grant's answer and the offline agent only in prose (getting started,
/// writeback guide): copied here verbatim.
#[test]
fn prose_examples_are_understood() {
    let grant: RequestKeyAnswer = serde_json::from_str(
        r#"{
 "href": "https://api.sikkasoft.com/v4/request_key_info?request_key=4d74aaaxxxx22b",
 "request_key": "4d74aaaxxxx22b",
 "start_time": "2020-09-23T04:00:28",
 "end_time": "2020-09-24T04:00:28",
 "expires_in": "85603 second(s)",
 "issued_to": "D20006",
 "status": "active",
 "request_count": "1",
 "scope": "start,end,appointment_statuses",
 "domain": "Dental",
"refresh_key":"xxxxxxxxx"
}"#,
    )
    .unwrap();
    let now: jiff::Timestamp = "2020-09-23T04:00:28Z".parse().unwrap();
    let key = issued_key(&grant, now).unwrap();
    assert_eq!(key.request_key.expose(), "4d74aaaxxxx22b");
    assert_eq!(key.refresh_key.unwrap().expose(), "xxxxxxxxx");
    assert_eq!(key.expires_at.as_second() - now.as_second(), 85603);

    let offline: Message = serde_json::from_str(
        r#"{
"http_code":"412",
"http_code_desc":"Preconditon Failed",
"error_code":"API2017",
"short_message":"The server does not meet one of the preconditions that the requester put on the request.",
"log_message":"Sikka platform utility is offline",
"more_information":"--"
}"#,
    )
    .unwrap();
    assert_eq!(
        offline.long_message.as_deref(),
        Some("Sikka platform utility is offline")
    );
    assert_eq!(
        SikkaError::from_answer(412, Some(&offline)),
        SikkaError::AgentOffline
    );
    assert_eq!(
        crate::pms::PmsError::from(SikkaError::AgentOffline),
        crate::pms::PmsError::Offline
    );
}
