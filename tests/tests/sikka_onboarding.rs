//! Sikka onboarding, black box: the real gateway in front of the Sikka emulator, whose offices
//! D100, D200 and D999 have authorized the application (D100 and D200 are bound to practices
//! here, D999 to none). Every Sikka route of the gateway with a missing, a wrong and the right
//! secret; repeated deliveries; an unmapped office; the marketplace purchase and cancel; the
//! reconciler onboarding a bound office and marking a withdrawn one revoked; and no secret (nor
//! any key Sikka issued) in the process output or the audit trail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gateway_tests::sikka::{SikkaEmulator, SikkaOptions};
use gateway_tests::{Caller, TestApp};
use serde_json::{Value, json};

const APP_ID: &str = "app-onboard-test";
const APP_KEY: &str = "canary-app-key-71c3";
const CALLBACK_KEY: &str = "canary-callback-key-9a1e";
const MARKETPLACE_SECRET: &str = "canary-marketplace-secret-4d2f";
const SECRET_A: &str = "canary-office-secret-a-55e0";
const SECRET_B: &str = "canary-office-secret-b-8b17";
const SECRET_UNMAPPED: &str = "canary-office-secret-x-0c94";
/// A secret no office has.
const SECRET_WRONG: &str = "canary-office-secret-wrong-3f61";
/// The sync agent's installation key a marketplace purchase carries.
const SPU_KEY: &str = "canary-spu-installation-key-e2a7";

/// The Sikka emulator for application `APP_ID`/`APP_KEY`, authorized by office D100 (`SECRET_A`)
/// and by `others` with their secrets.
async fn sikka(others: &[(&str, &str)]) -> SikkaEmulator {
    let options = SikkaOptions {
        app_id: APP_ID.into(),
        app_key: APP_KEY.into(),
        office_id: "D100".into(),
        secret_key: SECRET_A.into(),
        ..SikkaOptions::default()
    };
    let sikka = SikkaEmulator::start(options).await;
    for (office, secret) in others {
        sikka.knobs().authorize_office(office, secret);
    }
    sikka
}

/// D100, D200 and D999 authorize the application.
async fn three_offices() -> SikkaEmulator {
    sikka(&[("D200", SECRET_B), ("D999", SECRET_UNMAPPED)]).await
}

// ---------------------------------------------------------------------------------------------
// The gateway under test.

struct Rig {
    app: TestApp,
    sikka: SikkaEmulator,
    dir: tempfile::TempDir,
}

impl Rig {
    fn credentials_path(&self) -> PathBuf {
        self.dir.path().join("credentials.json")
    }

    fn credentials(&self) -> Value {
        read_json(&self.credentials_path())
    }

    async fn post(
        &self,
        path: &str,
        header: Option<(&str, &str)>,
        body: Value,
    ) -> reqwest::Response {
        let mut req = self.app.client.post(self.app.url(path)).json(&body);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        req.send().await.expect("request")
    }

    /// Calls to Sikka's `POST /request_key` so far: each one sends Sikka an office's secret.
    fn request_key_calls(&self) -> u64 {
        self.sikka.knobs().requests_to("/v4/request_key")
    }

    /// Every secret this test uses, and every key Sikka issued, is absent from the process's
    /// output and the audit trail.
    fn assert_no_secret_leaked(&self) {
        let output = self.app.output();
        let audit = std::fs::read_to_string(self.app.audit_dir.path().join("audit.jsonl"))
            .unwrap_or_default();
        let issued = self.sikka.knobs().issued_keys();
        let fixed = [
            APP_KEY,
            CALLBACK_KEY,
            MARKETPLACE_SECRET,
            SECRET_A,
            SECRET_B,
            SECRET_UNMAPPED,
            SECRET_WRONG,
            SPU_KEY,
        ];
        for secret in fixed.into_iter().chain(issued.iter().map(String::as_str)) {
            assert!(
                !output.contains(secret),
                "{secret} appears in the process output"
            );
            assert!(
                !audit.contains(secret),
                "{secret} appears in the audit trail"
            );
        }
    }
}

fn read_json(path: &Path) -> Value {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

fn sikka_practice(account: &str, office: &str) -> Value {
    json!({"account_id": account, "name": format!("Practice {account}"), "time_zone": "America/New_York",
           "transfer_number": "+15105550198", "phone_number_ids": [format!("pn_{account}")],
           "pms": {"kind": "sikka", "office_id": office, "practice_id": "1", "pms_type": "Dentrix"}})
}

async fn rig(sikka: SikkaEmulator, env: &[(&str, &str)]) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let practices = dir.path().join("practices.json");
    std::fs::write(
        &practices,
        json!({"practices": [
            sikka_practice("acct_a", "D100"),
            sikka_practice("acct_b", "D200"),
            {"account_id": "acct_demo", "name": "Demo", "time_zone": "America/Los_Angeles", "pms": {"kind": "sandbox"}},
        ]})
        .to_string(),
    )
    .unwrap();
    let credentials = dir.path().join("credentials.json");
    let mut all: Vec<(&str, &str)> = vec![
        ("PRACTICES_FILE", practices.to_str().unwrap()),
        ("CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("SIKKA_BASE_URL", sikka.base_url()),
        ("SIKKA_APP_ID", APP_ID),
        ("SIKKA_APP_KEY", APP_KEY),
        ("SIKKA_CALLBACK_KEY", CALLBACK_KEY),
        ("SIKKA_MARKETPLACE_SECRET", MARKETPLACE_SECRET),
        ("SIKKA_RECONCILE_SECONDS", "0"),
    ];
    for (k, v) in env {
        all.retain(|(name, _)| name != k);
        all.push((k, v));
    }
    let app = TestApp::spawn_with(&all).await;
    Rig { app, sikka, dir }
}

fn authorize(office: &str, secret: &str) -> Value {
    json!({"event": "app.authorized", "app_id": APP_ID, "office_id": office, "secret_key": secret,
           "practice_name": "Bright Smile", "practice_id": 1, "pms_type": "Dentrix"})
}

/// Polls `check` until it holds or `within` passes.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------

const AUTHORIZE: &str = "/pms/sikka/webhook/authorize";
const DATA: &str = "/pms/sikka/webhook/data";

#[tokio::test]
async fn authorize_needs_the_callback_key_and_onboards_once() {
    let r = rig(three_offices().await, &[]).await;
    let body = authorize("D100", SECRET_A);

    let missing = r.post(AUTHORIZE, None, body.clone()).await;
    assert_eq!(missing.status().as_u16(), 401);
    let wrong = r
        .post(
            AUTHORIZE,
            Some(("callback-key", "not-the-key")),
            body.clone(),
        )
        .await;
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(
        r.app.denials(Some(AUTHORIZE), 2).await,
        2,
        "both refusals are audited"
    );
    let mut wrong_app = body.clone();
    wrong_app["app_id"] = json!("someone-elses-app");
    let resp = r
        .post(AUTHORIZE, Some(("callback-key", CALLBACK_KEY)), wrong_app)
        .await;
    assert_eq!(resp.status().as_u16(), 401);
    assert_eq!(r.app.denials(Some(AUTHORIZE), 3).await, 3);
    assert_eq!(r.request_key_calls(), 0, "nothing reached Sikka");
    assert_eq!(r.credentials(), Value::Null, "nothing was stored");

    let ok = r
        .post(
            AUTHORIZE,
            Some(("callback-key", CALLBACK_KEY)),
            body.clone(),
        )
        .await;
    assert_eq!(ok.status().as_u16(), 200);
    let ack: Value = ok.json().await.unwrap();
    assert_eq!(
        ack,
        json!({"status": "onboarded", "account_id": "acct_a", "office_id": "D100"})
    );
    let stored = &r.credentials()["accounts"]["acct_a"];
    assert_eq!(stored["office_id"], "D100");
    assert_eq!(stored["secret_key"], SECRET_A);
    assert_eq!(stored["revoked"], false);

    // A repeated delivery: the same answer, no new grant, no rewrite; one more audit entry.
    let before = std::fs::metadata(r.credentials_path())
        .unwrap()
        .modified()
        .unwrap();
    let again = r
        .post(AUTHORIZE, Some(("callback-key", CALLBACK_KEY)), body)
        .await;
    assert_eq!(again.status().as_u16(), 200);
    let ack: Value = again.json().await.unwrap();
    assert_eq!(ack["status"], "unchanged");
    assert_eq!(r.sikka.knobs().granted_offices(), vec!["D100".to_owned()]);
    assert_eq!(
        std::fs::metadata(r.credentials_path())
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    let changes: Vec<Value> = r
        .app
        .audit_entries()
        .into_iter()
        // The outcomes; each change also has its intent entry before it.
        .filter(|e| e["action"] == "credential_change" && e["outcome"] != "intent")
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .all(|e| e["outcome"] == "success" && e["account_id"] == "acct_a")
    );
    assert!(
        changes
            .iter()
            .all(|e| e["reason"].as_str().unwrap().contains("D100"))
    );

    // A wrong secret: Sikka refuses it, nothing changes, the failure is audited.
    let bad = r
        .post(
            AUTHORIZE,
            Some(("callback-key", CALLBACK_KEY)),
            authorize("D200", SECRET_WRONG),
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422, "{}", r.app.output());
    assert_eq!(r.credentials()["accounts"]["acct_b"], Value::Null);
    assert!(
        r.app
            .audit_entries()
            .iter()
            .any(|e| e["action"] == "credential_change"
                && e["outcome"] == "failed"
                && e["account_id"] == "acct_b")
    );
    r.assert_no_secret_leaked();
}

#[tokio::test]
async fn an_unmapped_office_or_a_foreign_account_is_refused_and_audited() {
    let r = rig(three_offices().await, &[]).await;
    let key = Some(("callback-key", CALLBACK_KEY));
    let resp = r
        .post(AUTHORIZE, key, authorize("D999", SECRET_UNMAPPED))
        .await;
    assert_eq!(resp.status().as_u16(), 422);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let problem: Value = resp.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("D999"),
        "{problem}"
    );

    // An account id for a practice bound to another office (or to none) is refused, never re-bound.
    for account in ["acct_b", "acct_demo", "acct_unknown"] {
        let mut body = authorize("D100", SECRET_A);
        body["account_id"] = json!(account);
        let resp = r.post(AUTHORIZE, key, body).await;
        assert_eq!(resp.status().as_u16(), 422, "{account}");
    }
    assert_eq!(r.request_key_calls(), 0, "no secret was tried");
    assert_eq!(r.credentials(), Value::Null);
    let refusals = r
        .app
        .audit_entries()
        .into_iter()
        .filter(|e| e["action"] == "credential_change" && e["outcome"] == "denied")
        .count();
    assert_eq!(refusals, 4);

    // The right account id is accepted.
    let mut body = authorize("D100", SECRET_A);
    body["account_id"] = json!("acct_a");
    assert_eq!(r.post(AUTHORIZE, key, body).await.status().as_u16(), 200);

    // Not a JSON object of the documented shape: 400, as problem+json.
    let resp = r
        .post(AUTHORIZE, key, json!({"event": "app.authorized"}))
        .await;
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    r.assert_no_secret_leaked();
}

#[tokio::test]
async fn data_webhooks_need_the_callback_key_and_answer_200() {
    let r = rig(three_offices().await, &[]).await;
    let event = json!({"event": "appointments", "office_id": "D100", "practice_id": 1, "generated_time": "2025-01-01 10:00:00"});
    assert_eq!(
        r.post(DATA, None, event.clone()).await.status().as_u16(),
        401
    );
    assert_eq!(
        r.post(DATA, Some(("callback-key", "nope")), event.clone())
            .await
            .status()
            .as_u16(),
        401
    );
    assert_eq!(r.app.denials(Some(DATA), 2).await, 2);
    let key = Some(("callback-key", CALLBACK_KEY));
    let ok = r.post(DATA, key, event).await;
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["status"], "refreshed");
    for body in [
        json!({"event": "Data_Refresh", "office_id": "D100", "practice_id": "1-0"}),
        json!({"event": "patient", "office_id": "D200", "practice_id": "1"}),
        json!({"event": "transaction", "office_id": "D200", "practice_id": 2}),
    ] {
        let resp = r.post(DATA, key, body.clone()).await;
        assert_eq!(resp.status().as_u16(), 200, "{body}");
        assert_eq!(resp.json::<Value>().await.unwrap()["status"], "refreshed");
    }
    let unknown = r
        .post(
            DATA,
            key,
            json!({"event": "patient", "office_id": "D999", "practice_id": 1}),
        )
        .await;
    assert_eq!(
        unknown.status().as_u16(),
        200,
        "an office not served here is acknowledged"
    );
    assert_eq!(unknown.json::<Value>().await.unwrap()["status"], "ignored");
    r.assert_no_secret_leaked();
}

#[tokio::test]
async fn marketplace_purchase_and_cancel_are_recorded() {
    let r = rig(three_offices().await, &[]).await;
    let purchase = json!({
        "Source": "Sikka", "MasterCustomerID": "D100", "SPUInstallationKey": SPU_KEY,
        "PartnerRegistrationID": 4711, "PracticeName": "Bright Smile", "EmailAddress": "owner@example.org",
        "FirstName": "Ada", "LastName": "Owner", "Status": "Active", "PurchaseDate": "2025-01-02",
        "Order#": "SO-1", "PartnerServiceName": "Receptionist", "SomethingNew": {"x": 1}
    });
    for path in ["/pms/sikka/purchase", "/pms/sikka/cancel"] {
        assert_eq!(
            r.post(path, None, purchase.clone()).await.status().as_u16(),
            401
        );
        assert_eq!(
            r.post(
                path,
                Some(("x-marketplace-secret", "nope")),
                purchase.clone()
            )
            .await
            .status()
            .as_u16(),
            401
        );
        assert_eq!(r.app.denials(Some(path), 2).await, 2);
    }
    let key = Some(("x-marketplace-secret", MARKETPLACE_SECRET));
    let file = r.dir.path().join("sikka-registrations.json");

    let bought = r.post("/pms/sikka/purchase", key, purchase.clone()).await;
    assert_eq!(bought.status().as_u16(), 200);
    assert_eq!(
        bought.json::<Value>().await.unwrap(),
        json!({"status": "active", "registration": "4711"})
    );
    assert_eq!(read_json(&file)["registrations"]["4711"]["state"], "active");
    // A repeat is harmless.
    assert_eq!(
        r.post("/pms/sikka/purchase", key, purchase)
            .await
            .status()
            .as_u16(),
        200
    );

    let cancel = json!({"Source": "Sikka", "MasterCustomerID": "D100", "PartnerRegistrationID": "4711",
                        "Status": "Cancelled", "CancelDate": "2025-02-01"});
    let cancelled = r.post("/pms/sikka/cancel", key, cancel).await;
    assert_eq!(cancelled.status().as_u16(), 200);
    assert_eq!(
        cancelled.json::<Value>().await.unwrap()["status"],
        "cancelled"
    );
    let record = &read_json(&file)["registrations"]["4711"];
    assert_eq!(record["state"], "cancelled");
    assert_eq!(
        record["registration"]["practice_name"], "Bright Smile",
        "the purchase's fields are kept"
    );
    assert_eq!(record["registration"]["cancel_date"], "2025-02-01");

    let nameless = r
        .post("/pms/sikka/purchase", key, json!({"Source": "Sikka"}))
        .await;
    assert_eq!(
        nameless.status().as_u16(),
        400,
        "a registration without an id does not match the schema"
    );
    let wrong_type = r
        .post(
            "/pms/sikka/purchase",
            key,
            json!({"MasterCustomerID": "D100", "Status": false}),
        )
        .await;
    assert_eq!(wrong_type.status().as_u16(), 400);

    let recorded: Vec<Value> = r
        .app
        .audit_entries()
        .into_iter()
        .filter(|e| e["action"] == "credential_change" && e["outcome"] == "success")
        .collect();
    assert_eq!(recorded.len(), 3);
    assert!(
        recorded.iter().all(|e| e["account_id"] == "acct_a"),
        "{recorded:?}"
    );
    let audit = std::fs::read_to_string(r.app.audit_dir.path().join("audit.jsonl")).unwrap();
    assert!(!audit.contains("owner@example.org") && !r.app.output().contains("owner@example.org"));
    r.assert_no_secret_leaked();
}

#[tokio::test]
async fn without_configured_secrets_the_routes_refuse_with_503() {
    let r = rig(
        three_offices().await,
        &[("SIKKA_CALLBACK_KEY", ""), ("SIKKA_MARKETPLACE_SECRET", "")],
    )
    .await;
    for (path, header, body) in [
        (AUTHORIZE, "callback-key", authorize("D100", SECRET_A)),
        (
            DATA,
            "callback-key",
            json!({"event": "patient", "office_id": "D100"}),
        ),
        (
            "/pms/sikka/purchase",
            "x-marketplace-secret",
            json!({"MasterCustomerID": "D100"}),
        ),
        (
            "/pms/sikka/cancel",
            "x-marketplace-secret",
            json!({"MasterCustomerID": "D100"}),
        ),
    ] {
        for value in [None, Some(""), Some("anything")] {
            let resp = r.post(path, value.map(|v| (header, v)), body.clone()).await;
            assert_eq!(resp.status().as_u16(), 503, "{path} {value:?}");
        }
    }
    assert_eq!(r.request_key_calls(), 0, "nothing reached Sikka");
    assert_eq!(r.credentials(), Value::Null);
}

#[tokio::test]
async fn the_reconciler_onboards_bound_offices_and_marks_withdrawn_ones_revoked() {
    let sikka = three_offices().await;
    // D200 was onboarded before and has since withdrawn: not listed, and Sikka says API2007.
    sikka.knobs().withdraw_office("D200");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credentials.json"),
        json!({"accounts": {"acct_b": {"office_id": "D200", "secret_key": SECRET_B}}}).to_string(),
    )
    .unwrap();
    let r = Rig {
        app: spawn_for(&sikka, &dir, "1").await,
        sikka,
        dir,
    };

    let onboarded = eventually(Duration::from_secs(20), || {
        let c = r.credentials();
        c["accounts"]["acct_a"]["secret_key"] == SECRET_A
            && c["accounts"]["acct_b"]["revoked"] == true
    })
    .await;
    assert!(
        onboarded,
        "credentials: {}\n{}",
        r.credentials(),
        r.app.output()
    );
    let accounts = r.credentials()["accounts"].as_object().unwrap().clone();
    assert_eq!(
        accounts.len(),
        2,
        "the unmapped office was not given to anyone: {accounts:?}"
    );
    assert_eq!(
        accounts["acct_b"]["secret_key"], SECRET_B,
        "the revoked record keeps its secret"
    );

    // The revoked practice's tool answers say staff must act.
    let caller = Caller::at("acct_b", "pn_acct_b");
    let answer = r.app.tool("list_providers", json!({}), &caller).await;
    assert!(
        answer.err().contains("needs attention from staff"),
        "{answer:?}"
    );

    // Later passes change nothing: D100 minted once, one entry per change.
    let passes = |app: &TestApp| app.output().matches("sikka reconciler pass").count();
    let seen = passes(&r.app);
    assert!(eventually(Duration::from_secs(10), || passes(&r.app) >= seen + 2).await);
    assert_eq!(r.sikka.knobs().granted_offices(), vec!["D100".to_owned()]);
    let changes: Vec<Value> = r
        .app
        .audit_entries()
        .into_iter()
        // The outcomes; each change also has its intent entry before it.
        .filter(|e| e["action"] == "credential_change" && e["outcome"] != "intent")
        .collect();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|e| e["account_id"] == "acct_a" && e["outcome"] == "success")
    );
    assert!(
        changes
            .iter()
            .any(|e| e["account_id"] == "acct_b"
                && e["reason"].as_str().unwrap().contains("API2007"))
    );
    r.assert_no_secret_leaked();
}

async fn spawn_for(sikka: &SikkaEmulator, dir: &tempfile::TempDir, reconcile: &str) -> TestApp {
    let practices = dir.path().join("practices.json");
    std::fs::write(
        &practices,
        json!({"practices": [sikka_practice("acct_a", "D100"), sikka_practice("acct_b", "D200")]})
            .to_string(),
    )
    .unwrap();
    let credentials = dir.path().join("credentials.json");
    TestApp::spawn_with(&[
        ("PRACTICES_FILE", practices.to_str().unwrap()),
        ("CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("SIKKA_BASE_URL", sikka.base_url()),
        ("SIKKA_APP_ID", APP_ID),
        ("SIKKA_APP_KEY", APP_KEY),
        ("SIKKA_CALLBACK_KEY", CALLBACK_KEY),
        ("SIKKA_RECONCILE_SECONDS", reconcile),
    ])
    .await
}
