//! `terraform/environments/local` applied for real, to moto, and the gateway run on what it made:
//! the `aws` profile reads its settings from the parameters Terraform created (only PROFILE,
//! DEPLOY_ENV and where Sikka and moto are come from the environment), takes a practice added
//! with `cargo xtask practice add`, onboards it (its secret created under Terraform's prefix with
//! Terraform's key), answers a tool call, keeps a verified caller in the state table Terraform
//! created, and ships the call's audit entry to the log group Terraform created.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use gateway_tests::sikka::{SikkaEmulator, SikkaOptions};
use gateway_tests::{
    Caller, SECRET, TestApp, cognito::UserPool, eventually, moto::Moto, terraform, unique,
};
use serde_json::{Value, json};

const APP_ID: &str = "app-terraform";
const APP_KEY: &str = "canary-tf-app-key-7d21";
const CALLBACK_KEY: &str = "canary-tf-callback-key-3b90";
const OFFICE_SECRET: &str = "canary-tf-office-secret-c4e8";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_runs_on_what_terraform_applied_to_the_emulator() {
    let moto = Moto::start();
    let sikka = SikkaEmulator::start(SikkaOptions {
        app_id: APP_ID.into(),
        app_key: APP_KEY.into(),
        office_id: "D100".into(),
        secret_key: OFFICE_SECRET.into(),
        ..SikkaOptions::default()
    })
    .await;
    let pool = UserPool::start().await;
    let env_name = unique("tf").replace('_', "-");
    let mut settings = json!({
        "VAPI_WEBHOOK_SECRET": SECRET,
        "SIKKA_APP_ID": APP_ID,
        "SIKKA_APP_KEY": APP_KEY,
        "SIKKA_CALLBACK_KEY": CALLBACK_KEY,
        "PUBLIC_BASE_URL": "https://gateway.example",
    });
    for (name, value) in pool.env() {
        settings[name] = json!(value);
    }
    let applied = tokio::task::block_in_place(|| {
        terraform::apply_local(
            &moto,
            &json!({"endpoint": moto.endpoint, "environment": env_name, "settings": settings}),
        )
    });
    eprintln!(
        "terraform init + apply of environments/local took {:?}",
        applied.took
    );

    // Terraform's names are the gateway's.
    let aws = gateway::config::Settings::from_lookup(&|name| match name {
        "PROFILE" => Some("aws".into()),
        "DEPLOY_ENV" => Some(env_name.clone()),
        _ => None,
    })
    .expect("aws settings")
    .aws
    .expect("the aws profile's settings");
    assert_eq!(applied.output("ssm_root"), aws.ssm_root());
    assert_eq!(
        applied.output("practice_secrets_prefix"),
        aws.practice_secrets_prefix()
    );
    assert_eq!(applied.output("audit_log_group"), aws.audit_log_group());
    assert_eq!(applied.output("state_table"), aws.state_table());
    let kms_key = applied.output("secrets_kms_key_arn");

    let out = moto
        .xtask(&[
            "practice",
            "add",
            "--env",
            &env_name,
            "--account",
            "acct_tf",
            "--name",
            "Terraform Dental",
            "--time-zone",
            "America/Chicago",
            "--phone-number-id",
            "pn_tf",
            "--office-id",
            "D100",
            "--practice-id",
            "1",
            "--pms-type",
            "Dentrix",
        ])
        .await;
    assert!(
        out.status.success(),
        "xtask practice add: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Only the choice of environment, the key id Terraform output, and where the emulators
    // listen come from the environment: every setting Terraform wrote is read from SSM.
    let mut env: Vec<(&str, String)> = moto.env();
    env.extend([
        ("PROFILE", "aws".to_owned()),
        ("DEPLOY_ENV", env_name.clone()),
        ("SECRETS_KMS_KEY_ID", kms_key.clone()),
        ("SIKKA_BASE_URL", sikka.base_url().to_owned()),
        ("SIKKA_RECONCILE_SECONDS", "0".to_owned()),
        ("GATEWAY_NOW", String::new()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with(&env).await;
    let loaded = app
        .output()
        .lines()
        .find(|line| line.contains("settings loaded from SSM Parameter Store"))
        .map(str::to_owned)
        .expect("the gateway says where its settings came from");
    for name in [
        "SIKKA_APP_ID",
        "SIKKA_APP_KEY",
        "SIKKA_CALLBACK_KEY",
        "PUBLIC_BASE_URL",
        "COGNITO_ISSUER",
        "COGNITO_CLIENT_ID",
    ] {
        assert!(loaded.contains(name), "{name} not read from SSM: {loaded}");
    }

    // Onboarding authenticates Sikka with the callback key Terraform stored, and creates the
    // practice's secret under Terraform's prefix, encrypted with Terraform's key.
    let authorized = app
        .client
        .post(app.url("/pms/sikka/webhook/authorize"))
        .header("callback-key", CALLBACK_KEY)
        .json(
            &json!({"event": "app.authorized", "app_id": APP_ID, "office_id": "D100",
                      "secret_key": OFFICE_SECRET, "practice_name": "Terraform Dental",
                      "practice_id": 1, "pms_type": "Dentrix"}),
        )
        .send()
        .await
        .unwrap();
    assert!(authorized.status().is_success(), "{}", authorized.status());
    let secret_name = format!("{}acct_tf", applied.output("practice_secrets_prefix"));
    let described = moto
        .secrets()
        .describe_secret()
        .secret_id(&secret_name)
        .send()
        .await
        .expect("onboarding created the practice's secret under Terraform's prefix");
    assert_eq!(described.kms_key_id(), Some(kms_key.as_str()));

    // A tool call is answered with the Sikka app key Terraform stored.
    let caller = Caller::at("acct_tf", "pn_tf");
    let answer = app.tool("list_providers", json!({}), &caller).await;
    assert!(!answer.ok().is_empty());

    // Its audit entry reaches the log group Terraform created.
    let group = applied.output("audit_log_group");
    let logs = moto.logs();
    let entry = eventually(Duration::from_secs(15), || async {
        let page = logs
            .filter_log_events()
            .log_group_name(&group)
            .send()
            .await
            .ok()?;
        page.events()
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e.message()?).ok())
            .find(|entry| {
                entry["actor"]["call_id"] == caller.call_id.as_str()
                    && entry["resource"] == "list_providers"
            })
    })
    .await
    .expect("the tool call's audit entry in Terraform's log group");
    assert_eq!(entry["account_id"], "acct_tf");
    assert_eq!(entry["outcome"], "success");

    // The caller verified by caller id is remembered for the call in Terraform's state table,
    // where any other task finds it.
    let olivia = Caller {
        number: Some(gateway_tests::fixture::OLIVIA.phone.into()),
        ..Caller::at("acct_tf", "pn_tf")
    };
    let mine = app
        .tool("get_appointments", json!({}), &olivia)
        .await
        .json();
    assert_eq!(
        mine["patient_id"],
        gateway_tests::fixture::OLIVIA.id,
        "{mine}"
    );
    let session = moto
        .dynamodb()
        .get_item()
        .table_name(applied.output("state_table"))
        .key("pk", AttributeValue::S("S#acct_tf".into()))
        .key("sk", AttributeValue::S(olivia.call_id.clone()))
        .send()
        .await
        .expect("Terraform's state table answers");
    let patients = session
        .item()
        .and_then(|i| i.get("patients")?.as_ss().ok().cloned());
    assert_eq!(
        patients,
        Some(vec![gateway_tests::fixture::OLIVIA.id.to_owned()]),
        "the verification is kept in Terraform's table"
    );

    let output = app.output();
    for secret in [APP_KEY, CALLBACK_KEY, OFFICE_SECRET] {
        assert!(!output.contains(secret), "{secret} in the output");
    }
}
