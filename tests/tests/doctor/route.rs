//! The route on the local profile: a healthy report on both backends, audited as an admin read;
//! 401 without a token, 404 for an unknown practice, 400 for a malformed id, a warning for a
//! practice no call can reach.

use gateway_tests::{Backend, cognito::UserPool, fixture};
use serde_json::json;

use crate::common::*;

async fn a_healthy_practice_gets_a_healthy_report_and_the_read_is_audited(backend: Backend) {
    let pool = UserPool::start().await;
    let app = gateway(backend, &pool, &[]).await;
    let (status, report) = health(&app, "acct_demo", Some(&pool)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "ok", "{report}");
    assert_eq!(report["account_id"], "acct_demo");
    let names: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "profile",
            "credentials",
            "schedule",
            "sync_agent",
            "writebacks"
        ]
    );
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["verdict"], "ok", "{c}");
        assert!(c.get("next_step").is_none(), "{c}");
    }
    let profile = check(&report, "profile")["detail"].as_str().unwrap();
    assert!(
        profile.contains(fixture::PRACTICE_NAME)
            && profile.contains(fixture::TIME_ZONE)
            && profile.contains("route"),
        "{profile}"
    );
    let credentials = check(&report, "credentials")["detail"].as_str().unwrap();
    let agent = check(&report, "sync_agent")["detail"].as_str().unwrap();
    match backend {
        Backend::Sandbox => {
            assert_eq!(credentials, "sandbox practice, no Sikka");
            assert!(agent.contains("sandbox"), "{agent}");
        }
        Backend::Sikka => {
            assert!(
                credentials.contains("request key is valid"),
                "{credentials}"
            );
            assert!(agent.contains("refresh"), "{agent}");
            let sikka = sikka(&app).knobs();
            assert_eq!(sikka.requests_to("/v4/health_check"), 1);
            assert_eq!(sikka.requests_to("/v4/data_sync_status"), 1);
        }
    }
    assert_eq!(check(&report, "writebacks")["detail"], "no writes yet");
    // No patient data in the report.
    let text = report.to_string();
    for p in [fixture::OLIVIA.phone, "Olivia", "Bennett"] {
        assert!(!text.contains(p), "{text}");
    }

    // The read is audited: an admin read of this practice, its verdict, no findings.
    let reads: Vec<_> = app
        .audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == "practice_health")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    let e = &reads[0];
    assert_eq!(
        (
            &e["action"],
            &e["outcome"],
            &e["account_id"],
            &e["actor"]["kind"]
        ),
        (
            &json!("read"),
            &json!("success"),
            &json!("acct_demo"),
            &json!("admin")
        )
    );
    assert!(e["reason"].as_str().unwrap().ends_with("verdict ok"), "{e}");
    assert!(!e.to_string().contains("route"), "{e}");
}

async fn the_route_needs_a_token_and_a_known_practice(backend: Backend) {
    let pool = UserPool::start().await;
    let app = gateway(backend, &pool, &[]).await;
    let (status, _) = health(&app, "acct_demo", None).await;
    assert_eq!(status, 401);
    let forged = app
        .client
        .get(app.url("/practices/acct_demo/health"))
        .bearer_auth("not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    assert!(forged.headers().contains_key("www-authenticate"));
    assert!(app.denials(None, 2).await >= 2, "the refusals are audited");

    let (status, body) = health(&app, "acct_nobody", Some(&pool)).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("acct_nobody"),
        "{body}"
    );
    let long = "a".repeat(201);
    let (status, _) = health(&app, &long, Some(&pool)).await;
    assert_eq!(status, 400);
    // Nothing about a practice was read without a token.
    let reads = app
        .audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == "practice_health")
        .count();
    assert_eq!(reads, 1, "only the unknown practice's read is audited");
}

#[tokio::test]
async fn without_a_user_pool_the_route_is_unavailable() {
    let app = gateway_tests::TestApp::spawn().await;
    let resp = app
        .client
        .get(app.url("/practices/acct_demo/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("COGNITO_ISSUER"),
        "{body}"
    );
}

#[tokio::test]
async fn a_practice_no_call_can_reach_is_a_warning() {
    let pool = UserPool::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("practices.json");
    std::fs::write(
        &file,
        json!({"practices": [{"account_id": "acct_lonely", "name": "Lonely Dental",
            "time_zone": fixture::TIME_ZONE, "pms": {"kind": "sandbox"}}]})
        .to_string(),
    )
    .unwrap();
    let file = file.display().to_string();
    let app = gateway(Backend::Sandbox, &pool, &[("PRACTICES_FILE", &file)]).await;
    let (status, report) = health(&app, "acct_lonely", Some(&pool)).await;
    assert_eq!(status, 200, "{report}");
    let (v, next) = verdict(&report, "profile");
    assert_eq!(v, "warning", "{report}");
    assert!(next.contains("--phone-number-id"), "{next}");
    assert!(
        check(&report, "profile")["detail"]
            .as_str()
            .unwrap()
            .contains("calls cannot reach it")
    );
    assert_eq!(report["verdict"], "warning");
}

gateway_tests::both!(
    a_healthy_practice_gets_a_healthy_report_and_the_read_is_audited,
    the_route_needs_a_token_and_a_known_practice
);
