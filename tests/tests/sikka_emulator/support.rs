//! The support APIs the practice doctor reads, `health_check` and `data_sync_status`: only with
//! the application's credentials (the documented error otherwise), filtered by office, and
//! saying what the knobs set — not synced, an SPC error, the office unlisted, the endpoint down.

use super::common::*;

#[tokio::test]
async fn support_apis_need_the_application_and_say_what_the_knobs_set() {
    let sikka = SikkaEmulator::start(options()).await;
    let c = Client::new(&sikka);
    for path in ["/health_check", "/data_sync_status"] {
        let refused = c.send(reqwest::Method::GET, path, &[], None).await;
        assert_eq!(refused.status, 400, "{path}: {}", refused.text);
        assert_eq!(refused.json()["error_code"], "API1001", "{path}");
        let wrong = c
            .send(
                reqwest::Method::GET,
                path,
                &[("App-Id", DEFAULT_APP_ID), ("App-Key", "wrong")],
                None,
            )
            .await;
        assert_ne!(wrong.status, 200, "{path}");
    }
    let office = format!("?office_id={DEFAULT_OFFICE_ID}");
    let sync = c
        .app_get(&format!("/data_sync_status{office}"))
        .await
        .json();
    let item = &sync["items"][0];
    assert_eq!(item["status"], "refresh");
    assert_eq!(item["office_id"], DEFAULT_OFFICE_ID);
    assert!(
        item["data_insert_date"].as_str().unwrap().contains('T'),
        "{item}"
    );
    let health = c.app_get(&format!("/health_check{office}")).await.json();
    assert_eq!(health["items"][0]["spc_error_flag"], "");
    assert_eq!(health["items"][0]["is_inactive"], "False");
    // Another office is not listed.
    let other = c.app_get("/health_check?office_id=D999").await;
    assert_eq!(other.status, 204);

    sikka.knobs().set_sync_status(Some("not refresh"));
    sikka
        .knobs()
        .set_spc_error(Some("PMS database path not reachable"));
    let sync = c
        .app_get(&format!("/data_sync_status{office}"))
        .await
        .json();
    assert_eq!(sync["items"][0]["status"], "not refresh");
    let health = c.app_get(&format!("/health_check{office}")).await.json();
    assert_eq!(health["items"][0]["spc_error_flag"], "True");
    assert_eq!(
        health["items"][0]["spc_error_description"],
        "PMS database path not reachable"
    );

    sikka.knobs().set_office_unlisted(true);
    assert_eq!(
        c.app_get(&format!("/health_check{office}")).await.status,
        204
    );
    sikka.knobs().set_office_unlisted(false);
    sikka.knobs().set_path_failing("/v4/health_check", true);
    assert_eq!(
        c.app_get(&format!("/health_check{office}")).await.status,
        503
    );
    sikka.knobs().set_path_failing("/v4/health_check", false);
    assert_eq!(
        c.app_get(&format!("/health_check{office}")).await.status,
        200
    );
}
