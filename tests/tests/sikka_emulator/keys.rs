//! Keys and limits: request keys expiring and refreshed, offices authorizing and withdrawing the application, rate limits, injected faults and latency.

use super::common::*;

#[tokio::test]
async fn expired_keys_answer_api1025_until_refreshed() {
    let sikka = SikkaEmulator::start(options()).await;
    let mut c = Client::new(&sikka);
    let grant = c.grant().await;
    assert_eq!(grant["expires_in"], "86400 second(s)");
    assert_eq!(grant["issued_to"], DEFAULT_OFFICE_ID);
    assert_eq!(grant["request_key"].as_str().unwrap().len(), 32);
    c.key = Some(grant["request_key"].as_str().unwrap().to_owned());
    let ok = c.get("/practices").await;
    assert_eq!(ok.status, 200);
    let expires = ok.header("Request-Key-Expires").unwrap().to_owned();
    assert!(expires.ends_with(" GMT"), "{expires}");

    sikka.knobs().expire_request_keys();
    let a = c.get("/practices").await;
    assert_eq!((a.status, a.code()), (400, "API1025".into()));
    assert!(a.header("Request-Key-Expires").is_some());
    let info = c.get("/request_key_info").await.json();
    assert_eq!(info["status"], "expired");

    let refreshed = c
        .send(
            reqwest::Method::POST,
            "/request_key",
            &[],
            Some(
                json!({"grant_type": "refresh_key", "refresh_key": grant["refresh_key"],
                "app_id": DEFAULT_APP_ID, "app_key": DEFAULT_APP_KEY}),
            ),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    c.key = Some(refreshed.json()["request_key"].as_str().unwrap().to_owned());
    assert_eq!(c.get("/practices").await.status, 200);
    assert_eq!(sikka.knobs().request_key_grants(), 1);
    assert_eq!(sikka.knobs().refresh_grants(), 1);
    assert_eq!(sikka.knobs().requests_to("/v4/practices"), 3);

    // A short-lived key expires on its own.
    let short = SikkaEmulator::start(SikkaOptions {
        request_key_lifetime: Duration::from_secs(1),
        ..options()
    })
    .await;
    let c = Client::authorized(&short).await;
    assert_eq!(c.get("/practices").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(c.get("/practices").await.code(), "API1025");
}

#[tokio::test]
async fn offices_authorize_and_withdraw_the_application() {
    let sikka = SikkaEmulator::start(options()).await;
    sikka.knobs().authorize_office("D200", "secret-200");
    let c = Client::new(&sikka);
    let app = [("App-Id", DEFAULT_APP_ID), ("App-Key", DEFAULT_APP_KEY)];
    let listed = |a: Answer| -> Vec<(String, String)> {
        a.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["office_id"].as_str().unwrap().to_owned(),
                    i["secret_key"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let a = c
        .send(reqwest::Method::GET, "/authorized_practices", &app, None)
        .await;
    assert_eq!(
        listed(a),
        [
            (DEFAULT_OFFICE_ID.to_owned(), DEFAULT_SECRET_KEY.to_owned()),
            ("D200".to_owned(), "secret-200".to_owned())
        ]
    );
    let grant = |office: &str, secret: &str| {
        json!({"grant_type": "request_key", "office_id": office, "secret_key": secret,
               "app_id": DEFAULT_APP_ID, "app_key": DEFAULT_APP_KEY})
    };
    let wrong = c
        .send(
            reqwest::Method::POST,
            "/request_key",
            &[],
            Some(grant("D200", DEFAULT_SECRET_KEY)),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (401, "API2007".into()),
        "another office's secret"
    );
    let granted = c
        .send(
            reqwest::Method::POST,
            "/request_key",
            &[],
            Some(grant("D200", "secret-200")),
        )
        .await;
    assert_eq!(granted.status, 200, "{}", granted.text);
    let granted = granted.json();
    assert_eq!(granted["issued_to"], "D200");
    assert_eq!(sikka.knobs().granted_offices(), ["D200"]);
    let mut issued = sikka.knobs().issued_keys();
    issued.sort();
    let mut expected = [
        granted["request_key"].as_str().unwrap(),
        granted["refresh_key"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(issued, expected);
    let mut d200 = Client::new(&sikka);
    d200.key = Some(granted["request_key"].as_str().unwrap().to_owned());
    assert_eq!(d200.get("/practices").await.status, 200);

    // D200 withdraws: no longer listed, no new key, its key and refresh key refused.
    sikka.knobs().withdraw_office("D200");
    let a = c
        .send(reqwest::Method::GET, "/authorized_practices", &app, None)
        .await;
    assert_eq!(
        listed(a),
        [(DEFAULT_OFFICE_ID.to_owned(), DEFAULT_SECRET_KEY.to_owned())]
    );
    let again = c
        .send(
            reqwest::Method::POST,
            "/request_key",
            &[],
            Some(grant("D200", "secret-200")),
        )
        .await;
    assert_eq!((again.status, again.code()), (401, "API2007".into()));
    let call = d200.get("/practices").await;
    assert_eq!((call.status, call.code()), (401, "API2007".into()));
    let refresh = json!({"grant_type": "refresh_key", "refresh_key": granted["refresh_key"],
                         "app_id": DEFAULT_APP_ID, "app_key": DEFAULT_APP_KEY});
    let refreshed = c
        .send(reqwest::Method::POST, "/request_key", &[], Some(refresh))
        .await;
    assert_eq!(
        (refreshed.status, refreshed.code()),
        (401, "API2007".into())
    );
    assert_eq!(
        sikka.knobs().granted_offices(),
        ["D200"],
        "nothing more was granted"
    );
    // The office that still authorizes the application is served as before.
    assert_eq!(
        Client::authorized(&sikka)
            .await
            .get("/practices")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn rate_limits_faults_and_latency() {
    let sikka = SikkaEmulator::start(options()).await;
    let c = Client::authorized(&sikka).await;
    let a = c.get("/practices").await;
    assert_eq!(a.header("X-Rate-Limit-Limit"), Some("250"));

    sikka.knobs().set_rate_limit(3);
    for remaining in ["2", "1", "0"] {
        let a = c.get("/practices").await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("X-Rate-Limit-Remaining"), Some(remaining));
    }
    let a = c.get("/practices").await;
    assert_eq!(a.status, 429);
    assert_eq!(a.header("X-Rate-Limit-Remaining"), Some("0"));
    let reset: u64 = a.header("X-Rate-Limit-Reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset));
    sikka.knobs().set_rate_limit(250);

    sikka.knobs().throttle_next(1, 7);
    let a = c.get("/practices").await;
    assert_eq!((a.status, a.header("X-Rate-Limit-Reset")), (429, Some("7")));
    assert_eq!(c.get("/practices").await.status, 200);

    sikka.knobs().fail_next(2);
    for _ in 0..2 {
        let a = c.get("/practices").await;
        assert_eq!((a.status, a.code()), (503, "API2002".into()));
    }
    assert_eq!(c.get("/practices").await.status, 200);

    sikka.knobs().set_latency(Duration::from_millis(200));
    let started = std::time::Instant::now();
    assert_eq!(c.get("/practices").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}
