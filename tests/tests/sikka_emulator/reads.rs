//! Reads: the seeded practice, pagination, 204 for no results, the documented error envelope, and the emulator's own lifecycle.

use super::common::*;

#[tokio::test]
async fn seeded_with_the_sandbox_practice() {
    let sikka = SikkaEmulator::start(options()).await;
    let c = Client::authorized(&sikka).await;
    let sandbox = SandboxPractice::new(SandboxConfig::new(TODAY)).unwrap();

    let patients = c.get("/patients?limit=5000&fields=get_all").await.json();
    assert_eq!(patients["total_count"], "50");
    let olivia = &patients["items"][0];
    assert_eq!(olivia["patient_id"], "1001");
    assert_eq!(olivia["firstname"], "Olivia");
    assert_eq!(olivia["birthdate"], "1985-03-14T00:00:00");
    assert_eq!(olivia["cell"], "310-555-0100", "PMS format, not E.164");
    let walter = c.get("/patients?patient_id=1049").await.json();
    assert_eq!(walter["items"][0]["status"], "Inactive");
    let family = c.get("/patients?cell=323-555-0190").await.json();
    assert_eq!(family["total_count"], "4");

    let providers = c.get("/providers").await.json();
    let ids: Vec<_> = providers["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["provider_id"].clone())
        .collect();
    assert_eq!(ids, [json!("DDS1"), json!("DDS2"), json!("HYG1")]);
    assert_eq!(providers["items"][0]["lastname"], "Lee");

    let ops = c
        .get(&format!(
            "/operatories?cust_id={DEFAULT_CUST_ID}&is_hidden=F"
        ))
        .await
        .json();
    assert_eq!(ops["total_count"], "3");

    // The same appointments as the sandbox, id for id, over the fixture's whole range.
    let from = TODAY - jiff::ToSpan::days(30);
    let to = TODAY + jiff::ToSpan::days(30);
    let ours = c
        .get(&format!(
            "/appointments?startdate={from}&enddate={to}&limit=5000&fields=get_all"
        ))
        .await
        .json();
    let theirs = sandbox
        .appointments_between(
            from.to_datetime(Time::midnight()),
            (to + jiff::ToSpan::days(1)).to_datetime(Time::midnight()),
        )
        .await
        .unwrap();
    let items = ours["items"].as_array().unwrap();
    assert_eq!(items.len(), theirs.len());
    for a in &theirs {
        let item = items
            .iter()
            .find(|i| i["appointment_sr_no"] == a.id.as_str())
            .unwrap_or_else(|| panic!("appointment {} missing", a.id));
        assert_eq!(item["patient_id"], a.patient_id.as_str());
        assert_eq!(item["provider_id"], a.provider_id.as_str());
        assert_eq!(item["date"], format!("{}T00:00:00", a.start.date()));
        assert_eq!(item["time"], a.start.time().strftime("%H:%M").to_string());
        assert_eq!(item["length"], a.length_minutes.to_string());
        assert_eq!(item["operatory"], a.operatory_id.as_ref().unwrap().as_str());
    }

    // The weekly schedule with its open blocks, practice and per provider.
    let sched = c
        .get(&format!(
            "/practice_schedule?fields=get_all&resource_id=DDS2&date={TODAY}"
        ))
        .await
        .json();
    let week = &sched["items"][0];
    assert_eq!(week["date"], "2030-03-03T00:00:00", "weeks start on Sunday");
    assert_eq!(week["friday_start_1"], "08:00");
    assert_eq!(week["friday_end_1"], "12:00");
    assert_eq!(week["friday_start_2"], "");
    assert_eq!(week["monday_start_2"], "13:00");
    assert_eq!(week["saturday_start_1"], "");
    let statuses = c
        .get("/practice_variables?service_name=Appointment Status")
        .await
        .json();
    assert_eq!(statuses["total_count"], "5");
}

#[tokio::test]
async fn pagination_counts_pages_not_rows() {
    let sikka = SikkaEmulator::start(options()).await;
    let c = Client::authorized(&sikka).await;
    let mut seen = Vec::new();
    let mut url = "/patients?offset=0&limit=20".to_owned();
    let mut pages = 0;
    loop {
        let a = c.get(&url).await;
        assert_eq!(a.status, 200);
        let v = a.json();
        assert_eq!(v["offset"], pages.to_string());
        assert_eq!(v["limit"], "20");
        assert_eq!(v["total_count"], "50");
        assert!(v["execution_time"].is_string());
        assert!(
            v["pagination"]["last"]
                .as_str()
                .unwrap()
                .ends_with("offset=2&limit=20")
        );
        assert_eq!(v["pagination"]["previous"] == "", pages == 0);
        seen.extend(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["patient_id"].clone()),
        );
        pages += 1;
        let next = v["pagination"]["next"].as_str().unwrap();
        if next.is_empty() {
            break;
        }
        url = next.to_owned();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 50);
    seen.dedup();
    assert_eq!(seen.len(), 50, "pages do not overlap");

    // offset=1&limit=10 is rows 11–20, the second half of offset=0&limit=20.
    let twenty = c.get("/patients?offset=0&limit=20").await.json();
    let second = c.get("/patients?offset=1&limit=10").await.json();
    assert_eq!(second["items"][0], twenty["items"][10]);
    // Default 50, at most 5000.
    assert_eq!(c.get("/appointments").await.json()["limit"], "50");
    assert_eq!(
        c.get("/appointments?limit=9000").await.json()["limit"],
        "5000"
    );
    // Past the last page: no content.
    assert_eq!(c.get("/patients?offset=3&limit=20").await.status, 204);
}

#[tokio::test]
async fn no_results_is_204_with_an_empty_body() {
    let sikka = SikkaEmulator::start(options()).await;
    let c = Client::authorized(&sikka).await;
    for path in [
        "/patients?lastname=Nobody",
        "/patients?cell=+13105550100",
        "/appointments?startdate=2031-01-01&enddate=2031-01-02",
    ] {
        let a = c.get(path).await;
        assert_eq!(a.status, 204, "{path}");
        assert!(a.text.is_empty(), "{path}");
        assert!(a.header("Request-Key-Expires").is_some());
    }
}

#[tokio::test]
async fn errors_use_the_documented_envelope() {
    let sikka = SikkaEmulator::start(options()).await;
    let c = Client::authorized(&sikka).await;
    let anon = Client::new(&sikka);
    let a = anon
        .send(reqwest::Method::GET, "/patients", &[], None)
        .await;
    assert_eq!((a.status, a.code()), (400, "API1004".into()));
    let a = anon
        .send(
            reqwest::Method::GET,
            "/patients",
            &[("Request-Key", "0123456789abcdef0123456789abcdef")],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "API1004".into()));
    let a = c.get("/operatories").await;
    assert_eq!(
        (a.status, a.code()),
        (400, "API1020".into()),
        "cust_id is mandatory"
    );
    let a = anon
        .send(reqwest::Method::GET, "/authorized_practices", &[], None)
        .await;
    assert_eq!((a.status, a.code()), (400, "API1001".into()));
    let a = anon
        .send(
            reqwest::Method::GET,
            "/authorized_practices",
            &[("app-id", DEFAULT_APP_ID), ("APP-KEY", "wrong")],
            None,
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "API2003".into()));
    let a = anon
        .send(
            reqwest::Method::POST,
            "/request_key",
            &[],
            Some(json!({"grant_type": "request_key", "office_id": DEFAULT_OFFICE_ID, "secret_key": "nope",
                "app_id": DEFAULT_APP_ID, "app_key": DEFAULT_APP_KEY})),
        )
        .await;
    assert_eq!((a.status, a.code()), (401, "API2007".into()));
    let a = c.get("/no_such_api").await;
    assert_eq!((a.status, a.code()), (404, "API2009".into()));
    let a = c
        .call(
            reqwest::Method::POST,
            "/appointment",
            Some(json!({"patient_id": "1001"})),
        )
        .await;
    assert_eq!((a.status, a.code()), (400, "API1020".into()));
    let mut bad = booking(TODAY, Time::constant(9, 0, 0, 0), "DDS1", "OP1");
    bad["time"] = "9 o'clock".into();
    let a = c
        .call(reqwest::Method::POST, "/appointment", Some(bad))
        .await;
    assert_eq!((a.status, a.code()), (422, "API2019".into()));
    let a = c
        .call(
            reqwest::Method::PATCH,
            "/patient/1001",
            Some(json!({"practice_id": "1", "firstname": "Liv"})),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (405, "API2014".into()),
        "Dentrix cannot PATCH patients"
    );
    let a = c
        .call(
            reqwest::Method::POST,
            "/patient",
            Some(json!({"firstname": "Olivia", "lastname": "Bennett",
            "birthdate": "1985-03-14", "provider_id": "DDS1", "practice_id": "1"})),
        )
        .await;
    assert_eq!((a.status, a.code()), (409, "API2013".into()));
}

#[tokio::test]
async fn stop_frees_the_port() {
    let sikka = SikkaEmulator::start(options()).await;
    let addr = sikka.addr();
    sikka.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
