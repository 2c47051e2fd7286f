//! The whole `aws` profile, black box: the real gateway on moto (settings and practices from SSM,
//! credentials in Secrets Manager) in front of the Sikka emulator. A practice added with
//! `cargo xtask practice add`, onboarded through Sikka's authorize webhook (its secret created
//! in Secrets Manager), answers a tool call; a practice added while the gateway runs answers
//! within the refresh interval; its audit entry reaches CloudWatch Logs and is read back through
//! `GET /audit/events` with a Cognito token; the metrics come out as EMF; no secret reaches the
//! output.

use std::time::{Duration, Instant};

use aws_sdk_ssm::types::ParameterType;
use gateway_tests::sikka::{SikkaEmulator, SikkaOptions};
use gateway_tests::{Caller, TestApp, cognito::UserPool, moto::Moto, unique};
use serde_json::{Value, json};

const APP_ID: &str = "app-aws-profile";
const APP_KEY: &str = "canary-aws-app-key-5c1d";
const CALLBACK_KEY: &str = "canary-aws-callback-key-0e7b";
const OFFICE_SECRET: &str = "canary-aws-office-secret-93aa";

struct Rig {
    moto: Moto,
    env_name: String,
    sikka: SikkaEmulator,
    pool: UserPool,
}

impl Rig {
    async fn new() -> Self {
        let moto = Moto::start();
        let sikka = SikkaEmulator::start(SikkaOptions {
            app_id: APP_ID.into(),
            app_key: APP_KEY.into(),
            office_id: "D100".into(),
            secret_key: OFFICE_SECRET.into(),
            ..SikkaOptions::default()
        })
        .await;
        let rig = Self {
            moto,
            env_name: unique("e2e").replace('_', "-"),
            sikka,
            pool: UserPool::start().await,
        };
        // The audit log group is Terraform's; the gateway makes its own stream in it.
        rig.moto
            .logs()
            .create_log_group()
            .log_group_name(format!("/parlae/{}/audit", rig.env_name))
            .send()
            .await
            .expect("create the audit log group");
        let ssm = rig.moto.ssm();
        let backend = format!("/parlae/{}/backend", rig.env_name);
        for (name, value, secure) in [
            ("SIKKA_APP_ID", APP_ID, false),
            ("SIKKA_APP_KEY", APP_KEY, true),
            ("SIKKA_CALLBACK_KEY", CALLBACK_KEY, true),
            ("SIKKA_BASE_URL", rig.sikka.base_url(), false),
            ("SIKKA_RECONCILE_SECONDS", "0", false),
            ("PUBLIC_BASE_URL", "https://gateway.example", false),
        ] {
            ssm.put_parameter()
                .name(format!("{backend}/{name}"))
                .value(value)
                .r#type(if secure {
                    ParameterType::SecureString
                } else {
                    ParameterType::String
                })
                .send()
                .await
                .expect("seed a backend setting");
        }
        rig
    }

    async fn practice(&self, args: &[&str]) {
        let all: Vec<&str> = ["practice", "add", "--env", &self.env_name]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let out = self.moto.xtask(&all).await;
        assert!(
            out.status.success(),
            "xtask practice add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn gateway(&self) -> TestApp {
        let mut env: Vec<(&str, String)> = self.moto.env();
        env.extend(self.pool.env());
        env.extend([
            ("PROFILE", "aws".to_owned()),
            ("DEPLOY_ENV", self.env_name.clone()),
            // The aws profile runs on the system clock.
            ("GATEWAY_NOW", String::new()),
            ("PRACTICES_REFRESH_SECONDS", "1".to_owned()),
            ("METRICS_INTERVAL_SECONDS", "1".to_owned()),
        ]);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        TestApp::spawn_with(&env).await
    }
}

/// Polls `check` until it returns `Some` or `within` passes.
async fn eventually<T, F: Future<Output = Option<T>>>(
    within: Duration,
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_added_and_onboarded_on_aws_answers_calls() {
    let rig = Rig::new().await;
    rig.practice(&[
        "--account",
        "acct_a",
        "--name",
        "Bright Smile Dental",
        "--time-zone",
        "America/New_York",
        "--phone-number-id",
        "pn_a",
        "--office-id",
        "D100",
        "--practice-id",
        "1",
        "--pms-type",
        "Dentrix",
    ])
    .await;
    let app = rig.gateway().await;

    // Onboarding stores the office's credentials as the practice's secret.
    let authorized = app
        .client
        .post(app.url("/pms/sikka/webhook/authorize"))
        .header("callback-key", CALLBACK_KEY)
        .json(
            &json!({"event": "app.authorized", "app_id": APP_ID, "office_id": "D100",
                      "secret_key": OFFICE_SECRET, "practice_name": "Bright Smile",
                      "practice_id": 1, "pms_type": "Dentrix"}),
        )
        .send()
        .await
        .unwrap();
    assert!(authorized.status().is_success(), "{}", authorized.status());
    let secret_name = format!("parlae/{}/pms/sikka/acct_a", rig.env_name);
    let stored = rig
        .moto
        .secrets()
        .get_secret_value()
        .secret_id(&secret_name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("onboarding created the practice's secret");
    let record: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert_eq!(record["office_id"], "D100");

    // A tool call for the practice is answered from its Sikka system.
    let caller = Caller::at("acct_a", "pn_a");
    let answer = app.tool("list_providers", json!({}), &caller).await;
    let providers = answer.ok();
    assert!(!providers.is_empty());

    // Its audit entry is shipped to CloudWatch Logs and read back by a compliance officer.
    // The aws profile runs on the system clock, so the token is dated by it.
    let token = rig
        .pool
        .token(gateway::clock::Clock::system().now().as_second());
    let query = app.url(&format!("/audit/events?call_id={}", caller.call_id));
    let entries = eventually(Duration::from_secs(15), || async {
        let resp = app
            .client
            .get(&query)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?;
        assert_eq!(resp.status().as_u16(), 200);
        let page: Value = resp.json().await.ok()?;
        let entries = page["entries"].as_array()?.clone();
        (!entries.is_empty()).then_some(entries)
    })
    .await
    .expect("the tool call's audit entry is read back from CloudWatch Logs");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["resource"], "list_providers");
    assert_eq!(entries[0]["account_id"], "acct_a");
    assert_eq!(entries[0]["outcome"], "success");
    let unauthenticated = app.client.get(&query).send().await.unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);

    // A practice added while the gateway runs answers within the refresh interval.
    let stranger = Caller::at("acct_new", "pn_new");
    let before = app.tool("list_providers", json!({}), &stranger).await;
    assert!(before.error.is_some(), "not set up yet: {before:?}");
    rig.practice(&[
        "--account",
        "acct_new",
        "--name",
        "New Practice",
        "--time-zone",
        "America/Denver",
        "--phone-number-id",
        "pn_new",
        "--pms",
        "sandbox",
    ])
    .await;
    let answered = eventually(Duration::from_secs(10), || async {
        app.tool("list_providers", json!({}), &stranger)
            .await
            .result
    })
    .await;
    assert!(
        answered.is_some(),
        "the new practice was not served within 10 s"
    );

    // The metrics come out as EMF documents on stdout.
    let emf = eventually(Duration::from_secs(10), || async {
        app.output().lines().find_map(|line| {
            let doc: Value = serde_json::from_str(line).ok()?;
            let metrics = doc["_aws"]["CloudWatchMetrics"][0].clone();
            (doc["Tool"] == "list_providers"
                && doc["Outcome"] == "success"
                && doc["Environment"] == rig.env_name.as_str())
            .then_some((doc, metrics))
        })
    })
    .await;
    let (doc, metrics) = emf.expect("an EMF document for the tool calls");
    assert!(doc["ToolCalls"].as_u64().unwrap() >= 1);
    assert_eq!(metrics["Namespace"], "PracticeGateway");
    assert_eq!(
        metrics["Dimensions"][0],
        json!(["Environment", "Tool", "Outcome"])
    );
    assert!(doc["ToolLatencyP99"].as_f64().unwrap() > 0.0);
    let gauges = app
        .output()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("PracticesLoaded").is_some())
        .expect("the practices gauge is reported");
    assert!(gauges["PracticesLoaded"].as_f64().unwrap() >= 1.0);

    let output = app.output();
    let issued = rig.sikka.knobs().issued_keys();
    for secret in [APP_KEY, CALLBACK_KEY, OFFICE_SECRET]
        .into_iter()
        .chain(issued.iter().map(String::as_str))
    {
        assert!(!output.contains(secret), "{secret} in the output");
    }
}
