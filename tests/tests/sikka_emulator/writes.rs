//! Writes: writebacks held while the agent is offline, applied after the delay, and failing at apply time.

use super::common::*;

#[tokio::test]
async fn offline_agent_refuses_check_spu_and_holds_other_writes() {
    let sikka = SikkaEmulator::start(SikkaOptions {
        writeback_delay: Duration::ZERO,
        ..options()
    })
    .await;
    let c = Client::authorized(&sikka).await;
    let day = fixture::light_day(TODAY);
    let slot = free_slot(&c, day, fixture::DR_LEE, "OP1").await;
    sikka.knobs().set_agent_online(false);
    let mut body = booking(day, slot, fixture::DR_LEE, "OP1");
    body["check_spu"] = "true".into();
    let a = c
        .call(reqwest::Method::POST, "/appointment", Some(body.clone()))
        .await;
    assert_eq!(a.status, 412);
    assert_eq!(a.json()["error_code"], "API2017");

    body["check_spu"] = "false".into();
    let a = c
        .call(reqwest::Method::POST, "/appointment", Some(body))
        .await;
    assert_eq!(a.status, 201);
    let id = writeback_id(&a.json());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let item = c.writeback_status(&id).await;
    assert_eq!(
        (item["is_completed"].as_str(), item["result"].as_str()),
        (Some("False"), Some("pending"))
    );
    assert_eq!(sikka.knobs().pending_writebacks(), 1);

    sikka.knobs().set_agent_online(true);
    let item = wait_completed(&c, &id).await;
    assert_eq!(item["has_error"], "False");
}

#[tokio::test]
async fn a_booking_is_applied_after_the_delay() {
    let sikka = SikkaEmulator::start(SikkaOptions {
        writeback_delay: Duration::from_millis(400),
        ..options()
    })
    .await;
    let c = Client::authorized(&sikka).await;
    let day = fixture::light_day(TODAY);
    let slot = free_slot(&c, day, fixture::DR_LEE, "OP1").await;
    let a = c
        .call(
            reqwest::Method::POST,
            "/appointment",
            Some(booking(day, slot, fixture::DR_LEE, "OP1")),
        )
        .await;
    assert_eq!((a.status, a.code()), (201, "API2016".into()));
    let id = writeback_id(&a.json());

    let item = c.writeback_status(&id).await;
    assert_eq!(item["is_completed"], "False");
    assert_eq!(item["created_id"], "");
    let before = c
        .get(&format!(
            "/appointments?startdate={day}&enddate={day}&limit=5000"
        ))
        .await
        .json();

    let item = wait_completed(&c, &id).await;
    assert_eq!(
        (item["has_error"].as_str(), item["status"].as_str()),
        (Some("False"), Some("Success"))
    );
    let created = item["created_id"].as_str().unwrap().to_owned();
    assert!(!created.is_empty());
    let booked = c
        .get(&format!(
            "/appointments?appointment_sr_no={created}&fields=get_all"
        ))
        .await
        .json();
    let b = &booked["items"][0];
    assert_eq!(b["date"], format!("{day}T00:00:00"));
    assert_eq!(b["time"], slot.strftime("%H:%M").to_string());
    assert_eq!(
        (b["length"].as_str(), b["operatory"].as_str()),
        (Some("30"), Some("OP1"))
    );
    let after = c
        .get(&format!(
            "/appointments?startdate={day}&enddate={day}&limit=5000"
        ))
        .await
        .json();
    assert_eq!(
        after["total_count"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap(),
        before["total_count"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            + 1
    );

    // The other shape of writeback_status, and the application-level list.
    sikka
        .knobs()
        .set_writeback_status_shape(WritebackStatusShape::Object);
    let v = c.get(&format!("/writeback_status?id={id}")).await.json();
    assert_eq!(v["items"][0]["id"], id.as_str());
    let today = writeback::today_utc();
    let list = c
        .app_get(&format!(
            "/writebacks?startdate={today}&enddate={today}&id={id}"
        ))
        .await
        .json();
    assert_eq!(
        list["items"][0]["result"],
        "New Appointment inserted successfully"
    );

    // Cancelling through PATCH frees the slot again.
    let a = c
        .call(
            reqwest::Method::PATCH,
            &format!("/appointments/{created}"),
            Some(
                json!({"op": "replace", "path": "/appointment_status", "value": "Cancelled",
                "practice_id": DEFAULT_PRACTICE_ID, "appointment_sr_no": created}),
            ),
        )
        .await;
    assert_eq!((a.status, a.code()), (200, "API0007".into()));
    wait_completed(&c, &writeback_id(&a.json())).await;
    let cancelled = c
        .get(&format!("/appointments?appointment_sr_no={created}"))
        .await
        .json();
    assert_eq!(cancelled["items"][0]["status"], "Cancelled");
}

#[tokio::test]
async fn overlapping_and_forced_failures_fail_at_apply_time() {
    let sikka = SikkaEmulator::start(SikkaOptions {
        writeback_delay: Duration::from_millis(50),
        ..options()
    })
    .await;
    let c = Client::authorized(&sikka).await;
    // A slot-holding appointment on the fully booked day: book right on top of it.
    let day = fixture::fully_booked_day(TODAY);
    let v = c
        .get(&format!("/appointments?startdate={day}&enddate={day}&provider_id=DDS1&status=Scheduled&fields=get_all"))
        .await
        .json();
    let taken = &v["items"][0];
    let time: Time = taken["time"].as_str().unwrap().parse().unwrap();
    let a = c
        .call(
            reqwest::Method::POST,
            "/appointment",
            Some(booking(day, time, fixture::DR_LEE, "OP1")),
        )
        .await;
    assert_eq!(a.status, 201, "accepted at once: {}", a.text);
    let item = wait_completed(&c, &writeback_id(&a.json())).await;
    assert_eq!(item["has_error"], "True");
    assert!(
        item["result"].as_str().unwrap().contains("overlaps"),
        "{item}"
    );
    assert_eq!(item["created_id"], "");

    // The knob fails every writeback, whatever it is.
    sikka
        .knobs()
        .set_writebacks_fail(Some("PMS database is locked"));
    let a = c
        .call(
            reqwest::Method::POST,
            "/patient",
            Some(
                json!({"firstname": "New", "lastname": "Patient", "birthdate": "1999-09-09",
                "provider_id": "DDS1", "practice_id": DEFAULT_PRACTICE_ID, "cell": "310-555-0777"}),
            ),
        )
        .await;
    assert_eq!(a.status, 201);
    let item = wait_completed(&c, &writeback_id(&a.json())).await;
    assert_eq!(
        (item["has_error"].as_str(), item["result"].as_str()),
        (Some("True"), Some("PMS database is locked"))
    );
    assert_eq!(c.get("/patients?lastname=Patient").await.status, 204);
}
