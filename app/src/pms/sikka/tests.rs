//! Unit tests of the Sikka adapter against a stubbed Sikka (wiremock), one exchange at a time:
//! pagination, 204, key renewal (single-flight, fallback grant), 429, retries, writebacks,
//! phone matching.

use std::sync::Arc;
use std::time::Duration;

use jiff::civil::date;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{CredentialStore, SikkaCredentials};
use super::{RetryPolicy, SikkaClient, SikkaConfig, SikkaPractice, SikkaPracticeConfig};
use crate::pms::{
    AccountId, AppointmentId, E164, NewAppointment, OfficeId, OperatoryId, PatientId, PatientQuery,
    PatientUpdate, Phi, PmsError, PracticeSystem, ProviderId, Reschedule, WritebackId,
    WritebackState,
};
use crate::practices::MemoryCredentials;
use crate::secret::Secret;

const ACCOUNT: &str = "acct-1";

fn config(server: &MockServer) -> SikkaConfig {
    let mut c = SikkaConfig::new("app-id", Secret::new("app-key"));
    c.base_url = server.uri();
    c.call_timeout = Duration::from_secs(5);
    c.retry = RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        attempt_timeout: Duration::from_secs(2),
    };
    c.requests_per_minute = 60_000;
    c.page_size = 2;
    c
}

fn creds(key: &str, expires_in: i64) -> SikkaCredentials {
    let mut c = SikkaCredentials::new(OfficeId::new("D36225"), Secret::new("office-secret"));
    c.request_key = Some(Secret::new(key));
    c.refresh_key = Some(Secret::new("refresh-1"));
    c.expires_at =
        Some(crate::clock::Clock::system().now() + jiff::SignedDuration::from_secs(expires_in));
    c
}

fn practice_with(
    server: &MockServer,
    creds: SikkaCredentials,
    pms: &str,
) -> (Arc<SikkaPractice>, Arc<MemoryCredentials>) {
    let store = Arc::new(MemoryCredentials::with(AccountId::new(ACCOUNT), creds));
    let client = SikkaClient::new(config(server)).unwrap();
    let cfg = SikkaPracticeConfig::new(AccountId::new(ACCOUNT), OfficeId::new("D36225"), "1", pms);
    (
        Arc::new(SikkaPractice::new(client, cfg, store.clone())),
        store,
    )
}

fn practice(server: &MockServer) -> Arc<SikkaPractice> {
    practice_with(server, creds("key-1", 3600), "Dentrix").0
}

fn page(items: Value, next: bool) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "offset": "0", "limit": "2", "total_count": "", "execution_time": "5",
        "pagination": {"next": if next { "https://api.sikkasoft.com/v4/x?offset=1&limit=2" } else { "" }},
        "items": items,
    }))
}

fn message(http: u16, code: &str, long: &str, info: &str) -> ResponseTemplate {
    ResponseTemplate::new(http).set_body_json(json!({
        "http_code": http.to_string(), "error_code": code, "short_message": "",
        "long_message": long, "more_information": info,
    }))
}

fn grant(key: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "request_key": key, "refresh_key": "refresh-2", "expires_in": "85603 second(s)",
        "start_time": "2020-09-23T04:00:28", "end_time": "2020-09-24T04:00:28",
    }))
}

fn provider(id: &str) -> Value {
    json!({"provider_id": id, "firstname": "Maya", "lastname": "Lee", "status": "Active", "practice_id": "1"})
}

async fn requests_to(server: &MockServer, verb: &str, p: &str) -> Vec<Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == verb && r.url.path() == p)
        .collect()
}

#[tokio::test]
async fn walks_every_page_with_offset_as_page_number() {
    let server = MockServer::start().await;
    for (n, items, next) in [
        ("0", json!([provider("A"), provider("B")]), true),
        ("1", json!([provider("C"), provider("D")]), true),
        ("2", json!([provider("E")]), false),
    ] {
        Mock::given(method("GET"))
            .and(path("/providers"))
            .and(query_param("offset", n))
            .and(query_param("limit", "2"))
            .and(header("Request-Key", "key-1"))
            .respond_with(page(items, next))
            .expect(1)
            .mount(&server)
            .await;
    }
    let ids: Vec<String> = practice(&server)
        .providers()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["A", "B", "C", "D", "E"]);
}

#[tokio::test]
async fn no_content_is_an_empty_answer() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/appointments"))
        .and(query_param("startdate", "2024-06-03"))
        .and(query_param("enddate", "2024-06-03"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/practice_variables"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/appointment_statuses"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let day = date(2024, 6, 3);
    let got = practice(&server)
        .appointments_between(day.at(0, 0, 0, 0), day.tomorrow().unwrap().at(0, 0, 0, 0))
        .await
        .unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn an_expired_key_is_renewed_once_and_the_call_repeated() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .and(header("Request-Key", "key-1"))
        .respond_with(message(
            400,
            "API1025",
            "Request key is not valid, it is expired.",
            "",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .and(body_partial_json(json!({"grant_type": "refresh_key", "refresh_key": "refresh-1", "app_id": "app-id", "app_key": "app-key"})))
        .respond_with(grant("key-2"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .and(header("Request-Key", "key-2"))
        .respond_with(page(json!([provider("A")]), false))
        .expect(1)
        .mount(&server)
        .await;
    let (practice, store) = practice_with(&server, creds("key-1", 3600), "Dentrix");
    assert_eq!(practice.providers().await.unwrap().len(), 1);
    let saved = store.load(&AccountId::new(ACCOUNT)).await.unwrap().unwrap();
    assert_eq!(saved.request_key.unwrap().expose(), "key-2");
    assert_eq!(saved.refresh_key.unwrap().expose(), "refresh-2");
    assert_eq!(
        saved.secret_key.expose(),
        "office-secret",
        "merged, not replaced"
    );
    let left = saved
        .expires_at
        .unwrap()
        .duration_since(crate::clock::Clock::system().now());
    assert!(left > jiff::SignedDuration::from_secs(85_000), "{left:?}");
}

#[tokio::test]
async fn a_key_near_expiry_is_refreshed_once_for_a_hundred_concurrent_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .respond_with(grant("key-2").set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/patients"))
        .and(header("Request-Key", "key-2"))
        .respond_with(page(
            json!([{"patient_id": "7", "firstname": "A", "lastname": "B"}]),
            false,
        ))
        .expect(100)
        .mount(&server)
        .await;
    // Four minutes left: inside the default five-minute margin.
    let (practice, _) = practice_with(&server, creds("key-1", 240), "Dentrix");
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let practice = practice.clone();
        calls.spawn(async move { practice.patient(&PatientId::new("7")).await });
    }
    while let Some(done) = calls.join_next().await {
        assert_eq!(done.unwrap().unwrap().id.as_str(), "7");
    }
    assert_eq!(requests_to(&server, "POST", "/request_key").await.len(), 1);
}

#[tokio::test]
async fn a_failed_refresh_falls_back_to_the_request_key_grant() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .and(body_partial_json(json!({"grant_type": "refresh_key"})))
        .respond_with(message(401, "API2003", "ID or key is incorrect.", ""))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .and(body_partial_json(json!({"grant_type": "request_key", "office_id": "D36225", "secret_key": "office-secret"})))
        .respond_with(grant("key-3"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .and(header("Request-Key", "key-3"))
        .respond_with(page(json!([provider("A")]), false))
        .expect(1)
        .mount(&server)
        .await;
    let (practice, store) = practice_with(&server, creds("key-1", -10), "Dentrix");
    assert_eq!(practice.providers().await.unwrap().len(), 1);
    let saved = store.load(&AccountId::new(ACCOUNT)).await.unwrap().unwrap();
    assert_eq!(saved.request_key.unwrap().expose(), "key-3");
}

#[tokio::test]
async fn a_429_is_waited_out_when_the_reset_fits_the_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .respond_with(
            message(429, "", "Too many requests", "")
                .insert_header("X-Rate-Limit-Remaining", "0")
                .insert_header("X-Rate-Limit-Reset", "1"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .respond_with(page(json!([provider("A")]), false))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(practice(&server).providers().await.unwrap().len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_429_whose_reset_is_past_the_deadline_fails_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .respond_with(message(429, "", "", "").insert_header("X-Rate-Limit-Reset", "60"))
        .expect(1)
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    assert_eq!(
        practice(&server).providers().await.unwrap_err(),
        PmsError::RateLimited
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn reads_are_retried_on_5xx() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .respond_with(message(503, "API2002", "overloaded", ""))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/providers"))
        .respond_with(page(json!([provider("A")]), false))
        .mount(&server)
        .await;
    assert_eq!(practice(&server).providers().await.unwrap().len(), 1);
    assert_eq!(requests_to(&server, "GET", "/providers").await.len(), 3);
}

fn booking() -> NewAppointment {
    NewAppointment {
        patient_id: PatientId::new("5383"),
        provider_id: ProviderId::new("DMD2"),
        operatory_id: OperatoryId::new("OP-9"),
        start: date(2030, 9, 29).at(10, 30, 0, 0),
        length_minutes: 60,
        description: Phi::new("Cleaning".into()),
        note: None,
    }
}

#[tokio::test]
async fn writes_are_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/appointment"))
        .respond_with(message(503, "API2002", "overloaded", ""))
        .mount(&server)
        .await;
    let err = practice(&server).book(booking()).await.unwrap_err();
    assert!(matches!(err, PmsError::Transient(_)), "{err:?}");
    assert_eq!(requests_to(&server, "POST", "/appointment").await.len(), 1);
}

#[tokio::test]
async fn an_offline_agent_on_booking_is_offline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/appointment"))
        .and(body_partial_json(json!({"check_spu": "true", "practice_id": "1", "date": "2030-09-29", "time": "10:30", "length": "60"})))
        .respond_with(
            ResponseTemplate::new(412).set_body_json(json!({"http_code": "412", "error_code": "API2017",
                "log_message": "Sikka platform utility is offline", "more_information": "--"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    assert_eq!(
        practice(&server).book(booking()).await.unwrap_err(),
        PmsError::Offline
    );
}

#[tokio::test]
async fn writeback_ids_come_from_long_message_or_more_information() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/appointment"))
        .respond_with(message(
            201,
            "API2016",
            "Id:275495",
            "https://api.sikkasoft.com/v4/writeback_status?id=275495",
        ))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/appointments/70670"))
        .and(body_partial_json(
            json!({"provider_id": "DMD2", "date": "2030-10-01", "time": "09:00"}),
        ))
        .respond_with(message(
            200,
            "API0007",
            "Appointment status logged successfully",
            "https://api.sikkasoft.com/v4/writeback_status?id=159357",
        ))
        .mount(&server)
        .await;
    let practice = practice(&server);
    let booked = practice.book(booking()).await.unwrap();
    assert_eq!(booked.id, WritebackId::new("275495"));
    assert_eq!(booked.state, WritebackState::Pending);
    let moved = practice
        .reschedule(
            &AppointmentId::new("70670"),
            Reschedule {
                provider_id: ProviderId::new("DMD2"),
                operatory_id: None,
                start: date(2030, 10, 1).at(9, 0, 0, 0),
                length_minutes: 30,
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.id, WritebackId::new("159357"));
}

#[tokio::test]
async fn writeback_status_in_both_shapes() {
    let server = MockServer::start().await;
    let item = |id: &str, done: &str, error: &str| {
        json!({"id": id, "office_id": "D36225", "is_completed": done, "has_error": error,
               "result": "Provider is not active", "created_id": "80001"})
    };
    Mock::given(method("GET"))
        .and(path("/writeback_status"))
        .and(query_param("id", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "offset": "0", "limit": "500", "total_count": "1", "pagination": {"next": ""},
            "items": [item("1", "True", "False")]}])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/writeback_status"))
        .and(query_param("id", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "offset": "0", "total_count": "1", "pagination": {"next": ""},
            "items": [item("2", "True", "True")]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/writeback_status"))
        .and(query_param("id", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(item("3", "False", "False")))
        .mount(&server)
        .await;
    let practice = practice(&server);
    let state = |id: &'static str| {
        let practice = practice.clone();
        async move {
            practice
                .writeback(&WritebackId::new(id))
                .await
                .unwrap()
                .state
        }
    };
    assert_eq!(
        state("1").await,
        WritebackState::Applied {
            created_id: Some("80001".into())
        }
    );
    assert_eq!(
        state("2").await,
        WritebackState::Failed {
            reason: "Provider is not active".into()
        }
    );
    assert_eq!(state("3").await, WritebackState::Pending);
}

#[tokio::test]
async fn phones_match_whatever_format_the_pms_keeps() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/patients"))
        .and(query_param("cell", "415-555-0123"))
        .respond_with(page(json!([
            {"patient_id": "1", "firstname": "Ana", "lastname": "Ruiz", "cell": "(415) 555-0123", "birthdate": "1984-12-10T00:00:00"},
            {"patient_id": "2", "firstname": "Ana", "lastname": "Ruiz", "cell": "415-555-0199"},
        ]), false))
        .mount(&server)
        .await;
    for q in [("cell", "415-555-0100"), ("homephone", "415-555-0100")] {
        Mock::given(method("GET"))
            .and(path("/patients"))
            .and(query_param(q.0, q.1))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
    }
    // Free text on the last four digits finds the number stored dotted in the home field, and
    // a stranger whose number merely ends alike, who is left out.
    Mock::given(method("GET"))
        .and(path("/patients"))
        .and(query_param("search", "0100"))
        .respond_with(page(json!([
            {"patient_id": "3", "firstname": "Bo", "lastname": "Li", "homephone": "415.555.0100"},
            {"patient_id": "4", "firstname": "Cy", "lastname": "Ng", "cell": "(212) 555-0100"},
        ]), false))
        .mount(&server)
        .await;
    let practice = practice(&server);
    let by = |phone: &str| PatientQuery {
        phone: Some(E164::parse(phone).unwrap()),
        ..PatientQuery::default()
    };
    let found = practice.find_patients(&by("+14155550123")).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id.as_str(), "1");
    let mut with_birth = by("+14155550123");
    with_birth.birth_date = Some(Phi::new(date(1990, 1, 1)));
    assert!(
        practice
            .find_patients(&with_birth)
            .await
            .unwrap()
            .is_empty()
    );
    let home = practice.find_patients(&by("(415) 555-0100")).await.unwrap();
    assert_eq!(home.len(), 1);
    assert_eq!(home[0].id.as_str(), "3");
}

#[tokio::test]
async fn operatories_need_the_practices_cust_id_and_cancel_uses_its_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/practices"))
        .respond_with(page(
            json!([{"practice_id": "1", "cust_id": "C77", "name": "Cedar"}]),
            false,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/operatories"))
        .and(query_param("cust_id", "C77"))
        .respond_with(page(json!([{"operatory": "OP-1", "is_hidden": "F"}, {"operatory": "OP-X", "is_hidden": "T"}]), false))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/practice_variables"))
        .and(query_param("service_name", "Appointment Status"))
        .respond_with(page(
            json!([{"service_name": "Appointment Status", "value": "Scheduled"},
                                  {"service_name": "Appointment Status", "value": "Cancelled"}]),
            false,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/appointments/70670"))
        .and(body_partial_json(
            json!({"op": "replace", "path": "/appointment_status", "value": "Cancelled",
                                      "practice_id": "1", "appointment_sr_no": "70670"}),
        ))
        .respond_with(message(200, "API0007", "Id:252550", ""))
        .expect(2)
        .mount(&server)
        .await;
    let practice = practice(&server);
    for _ in 0..2 {
        let ops = practice.operatories().await.unwrap();
        assert_eq!(ops.len(), 2);
        assert!(ops[1].hidden);
        let wb = practice
            .cancel(&AppointmentId::new("70670"), None)
            .await
            .unwrap();
        assert_eq!(wb.id.as_str(), "252550");
    }
}

#[tokio::test]
async fn only_orthotrac_and_dolphin_edit_patients() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/patient/42"))
        .and(body_partial_json(
            json!({"preferred_name": "Bea", "practice_id": "1"}),
        ))
        .respond_with(message(200, "API0011", "Id:951357", ""))
        .expect(1)
        .mount(&server)
        .await;
    let update = || PatientUpdate {
        preferred_name: Some(Phi::new("Bea".into())),
        ..PatientUpdate::default()
    };
    let dentrix = practice(&server);
    assert_eq!(
        dentrix
            .update_patient(&PatientId::new("42"), update())
            .await
            .unwrap_err(),
        PmsError::Unsupported("updating patient details")
    );
    let (ortho, _) = practice_with(&server, creds("key-1", 3600), "OrthoTrac");
    let wb = ortho
        .update_patient(&PatientId::new("42"), update())
        .await
        .unwrap();
    assert_eq!(wb.id.as_str(), "951357");
}

#[tokio::test]
async fn authorized_practices_walks_pages_with_the_application_credentials() {
    let server = MockServer::start().await;
    let office = |id: &str| {
        json!({"office_id": id, "secret_key": format!("s-{id}"), "practice_id": "1",
                                   "practice_name": "Cedar", "practice_management_system": "Dentrix"})
    };
    for (n, items, next) in [
        ("0", json!([office("D1"), office("D2")]), true),
        ("1", json!([office("D3")]), false),
    ] {
        Mock::given(method("GET"))
            .and(path("/authorized_practices"))
            .and(query_param("offset", n))
            .and(header("App-Id", "app-id"))
            .and(header("App-Key", "app-key"))
            .respond_with(page(items, next))
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = SikkaClient::new(config(&server)).unwrap();
    let offices = client.authorized_practices().await.unwrap();
    let ids: Vec<&str> = offices.iter().map(|o| o.office_id.as_str()).collect();
    assert_eq!(ids, ["D1", "D2", "D3"]);
    assert_eq!(offices[2].secret_key.expose(), "s-D3");
    assert!(
        !format!("{offices:?}").contains("s-D1"),
        "Debug hides secrets"
    );
}

#[tokio::test]
async fn open_blocks_come_from_the_weekly_schedule() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/practice_schedule"))
        .and(query_param("fields", "get_all"))
        .respond_with(page(
            json!([{"practice_id": "1", "resource_type": "Practice", "resource_id": "1",
            "date": "2024-06-02T00:00:00", "monday_start_1": "08:00", "monday_end_1": "12:00",
            "monday_start_2": "", "monday_end_2": ""}]),
            false,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let practice = practice(&server);
    let monday = practice.open_blocks(date(2024, 6, 3)).await.unwrap();
    assert_eq!(monday.len(), 1);
    assert_eq!(monday[0].provider_id, None);
    assert!(
        practice
            .open_blocks(date(2024, 6, 4))
            .await
            .unwrap()
            .is_empty(),
        "cached; Tuesday closed"
    );
}
