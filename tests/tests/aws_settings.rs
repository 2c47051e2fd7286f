//! The `aws` profile's system settings from SSM Parameter Store, against moto: the real gateway
//! binary on `PROFILE=aws`, its standard credential chain pointed at the emulator. Each test
//! reads what an operator sees: whether the gateway came up to serve (it is then stopped), its
//! exit status and its output.

use aws_sdk_ssm::types::ParameterType;
use gateway_tests::{
    moto::{Moto, run_gateway},
    unique,
};

/// The settings the aws profile requires, with test values; the secrets as SecureStrings.
const REQUIRED: &[(&str, &str, bool)] = &[
    ("VAPI_WEBHOOK_SECRET", "vapi-secret-value", true),
    ("SIKKA_APP_ID", "sikka-app-id", false),
    ("SIKKA_APP_KEY", "sikka-app-key", true),
    ("SIKKA_CALLBACK_KEY", "sikka-callback-key", true),
    ("PUBLIC_BASE_URL", "https://gw.example.com", false),
];

const LOADED: &str = "settings loaded from SSM Parameter Store";

/// A deployment environment of its own for one test, and its backend path.
fn deploy_env() -> (String, String) {
    let env = unique("t").replace('_', "-");
    let path = format!("/parlae/{env}/backend");
    (env, path)
}

async fn put(ssm: &aws_sdk_ssm::Client, path: &str, name: &str, value: &str, secure: bool) {
    ssm.put_parameter()
        .name(format!("{path}/{name}"))
        .value(value)
        .r#type(if secure {
            ParameterType::SecureString
        } else {
            ParameterType::String
        })
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {name}: {}", aws_sdk_ssm::error::DisplayErrorContext(e)));
}

async fn put_all(ssm: &aws_sdk_ssm::Client, path: &str, entries: &[(&str, &str, bool)]) {
    for (name, value, secure) in entries {
        put(ssm, path, name, value, *secure).await;
    }
}

/// The gateway on the aws profile against `moto`, with `extra` environment variables: whether
/// it served (then stopped with SIGTERM, exit code 0), else its exit code; and its output.
async fn run_aws(moto: &Moto, deploy_env: &str, extra: &[(&str, &str)]) -> (Started, String) {
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("PROFILE", "aws".into()));
    env.push(("DEPLOY_ENV", deploy_env.into()));
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let run = run_gateway(&env).await;
    let started = match (run.served, run.code) {
        (true, Some(0)) => Started::Served,
        (true, code) => panic!("served, then stopped with {code:?}:\n{}", run.output),
        (false, Some(code)) => Started::Exited(code),
        (false, None) => panic!("killed by a signal:\n{}", run.output),
    };
    (started, run.output)
}

#[derive(Debug, PartialEq, Eq)]
enum Started {
    Served,
    Exited(i32),
}

#[tokio::test]
async fn settings_are_read_across_every_page() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let (env, path) = deploy_env();
    // Twelve settings the gateway does not use before the required ones and twelve after, in
    // name order and in the order written: the required ones are never on the first page.
    let before: Vec<String> = (0..12).map(|n| format!("A_UNUSED_{n:02}")).collect();
    let after: Vec<String> = (0..12).map(|n| format!("Z_UNUSED_{n:02}")).collect();
    for name in &before {
        put(&ssm, &path, name, "x", false).await;
    }
    put_all(&ssm, &path, REQUIRED).await;
    for name in &after {
        put(&ssm, &path, name, "x", false).await;
    }
    let first_page = ssm
        .get_parameters_by_path()
        .path(&path)
        .recursive(true)
        .with_decryption(true)
        .send()
        .await
        .expect("first page");
    assert!(first_page.next_token().is_some(), "the path spans pages");
    assert!(
        !REQUIRED.iter().all(|(name, ..)| first_page
            .parameters()
            .iter()
            .any(|p| p.name() == Some(&format!("{path}/{name}")))),
        "a required setting must be beyond the first page for this test to prove paging"
    );

    let (started, output) = run_aws(&moto, &env, &[]).await;
    assert!(output.contains(LOADED), "{output}");
    assert!(output.contains("\"parameters\":29"), "{output}");
    assert_eq!(started, Started::Served, "{output}");
}

#[tokio::test]
async fn an_environment_variable_overrides_its_parameter() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let (env, path) = deploy_env();
    // SIKKA_APP_KEY only in the environment (as an ECS task-definition secret arrives).
    put_all(&ssm, &path, &[REQUIRED[0], REQUIRED[1], REQUIRED[3]]).await;
    put(
        &ssm,
        &path,
        "PUBLIC_BASE_URL",
        "https://from-ssm.example",
        false,
    )
    .await;

    let (started, output) = run_aws(
        &moto,
        &env,
        &[
            ("PUBLIC_BASE_URL", "https://from-env.example"),
            ("SIKKA_APP_KEY", "from-env-key"),
        ],
    )
    .await;
    assert!(output.contains(LOADED), "{output}");
    assert!(
        output.contains("\"public_base_url\":\"https://from-env.example\""),
        "{output}"
    );
    assert!(!output.contains("from-ssm.example"), "{output}");
    assert!(
        output.contains("\"overridden_by_environment\":\"[\\\"PUBLIC_BASE_URL\\\"]\""),
        "{output}"
    );
    assert_eq!(started, Started::Served, "{output}");
}

#[tokio::test]
async fn a_missing_required_setting_stops_the_process_naming_its_parameter() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let (env, path) = deploy_env();
    let without_app_key: Vec<_> = REQUIRED
        .iter()
        .copied()
        .filter(|(name, ..)| *name != "SIKKA_APP_KEY")
        .collect();
    put_all(&ssm, &path, &without_app_key).await;

    let (started, output) = run_aws(&moto, &env, &[]).await;
    assert_eq!(started, Started::Exited(2), "{output}");
    assert!(
        output.contains(&format!(
            "SIKKA_APP_KEY (SSM parameter {path}/SIKKA_APP_KEY, or the environment variable SIKKA_APP_KEY)"
        )),
        "{output}"
    );
    assert!(!output.contains(LOADED), "{output}");

    // Without DEPLOY_ENV there is no path to read: the process says which variable is missing.
    let mut no_env: Vec<(&str, String)> = moto.env();
    no_env.push(("PROFILE", "aws".into()));
    let run = run_gateway(&no_env).await;
    let output = run.output;
    assert_eq!((run.served, run.code), (false, Some(2)), "{output}");
    assert!(
        output.contains("DEPLOY_ENV is required on the aws profile"),
        "{output}"
    );
}

#[tokio::test]
async fn a_canary_in_ssm_never_reaches_the_output() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let canary = unique("canary");
    let secrets: Vec<(&str, String, bool)> = vec![
        ("VAPI_WEBHOOK_SECRET", format!("{canary}-vapi"), true),
        ("SIKKA_APP_ID", format!("{canary}-app-id"), false),
        ("SIKKA_APP_KEY", format!("{canary}-app-key"), true),
        ("SIKKA_CALLBACK_KEY", format!("{canary}-callback"), true),
        ("SIKKA_MARKETPLACE_SECRET", format!("{canary}-market"), true),
    ];
    // Loaded in full (logged at trace level), then missing a required one, then a SecureString
    // that is not a valid value for its setting.
    let (complete, complete_path) = deploy_env();
    let (partial, partial_path) = deploy_env();
    let (invalid, invalid_path) = deploy_env();
    for (name, value, secure) in &secrets {
        put(&ssm, &complete_path, name, value, *secure).await;
        put(&ssm, &invalid_path, name, value, *secure).await;
        if *name != "SIKKA_APP_KEY" {
            put(&ssm, &partial_path, name, value, *secure).await;
        }
    }
    for path in [&complete_path, &partial_path, &invalid_path] {
        put(
            &ssm,
            path,
            "PUBLIC_BASE_URL",
            "https://gw.example.com",
            false,
        )
        .await;
    }
    put(
        &ssm,
        &invalid_path,
        "TOOL_BUDGET_MS",
        &format!("{canary}-ms"),
        true,
    )
    .await;

    let (started, output) = run_aws(&moto, &complete, &[]).await;
    assert_eq!(started, Started::Served, "{output}");
    assert!(output.contains(LOADED), "{output}");
    assert!(!output.contains(&canary), "{output}");

    let (started, output) = run_aws(&moto, &partial, &[]).await;
    assert_eq!(started, Started::Exited(2), "{output}");
    assert!(!output.contains(&canary), "{output}");

    let (started, output) = run_aws(&moto, &invalid, &[]).await;
    assert_eq!(started, Started::Exited(2), "{output}");
    assert!(output.contains("TOOL_BUDGET_MS="), "{output}");
    assert!(!output.contains(&canary), "{output}");
}

#[tokio::test]
async fn a_secure_string_is_read_decrypted() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let (env, path) = deploy_env();
    put_all(&ssm, &path, &REQUIRED[1..4]).await;
    // A base64 Vapi secret: read encrypted it would not be base64, and the start would fail.
    put(
        &ssm,
        &path,
        "VAPI_WEBHOOK_SECRET",
        "c2VjcmV0LWtleS1ieXRlcw==",
        true,
    )
    .await;
    put(&ssm, &path, "VAPI_SECRET_IS_BASE64", "true", false).await;
    put(
        &ssm,
        &path,
        "PUBLIC_BASE_URL",
        "https://secure.example",
        true,
    )
    .await;
    let encrypted = ssm
        .get_parameter()
        .name(format!("{path}/PUBLIC_BASE_URL"))
        .with_decryption(false)
        .send()
        .await
        .expect("read without decryption");
    assert_ne!(
        encrypted.parameter().and_then(|p| p.value()),
        Some("https://secure.example"),
        "the emulator must tell an encrypted read from a decrypted one"
    );

    let (started, output) = run_aws(&moto, &env, &[]).await;
    assert!(output.contains(LOADED), "{output}");
    assert!(
        output.contains("\"public_base_url\":\"https://secure.example\""),
        "{output}"
    );
    assert_eq!(started, Started::Served, "{output}");
}

#[tokio::test]
async fn an_unreachable_parameter_store_stops_the_process_naming_the_path() {
    // A loopback port nothing listens on: connections are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let (env, path) = deploy_env();
    let run = run_gateway(&[
        ("PROFILE", "aws".into()),
        ("DEPLOY_ENV", env),
        ("AWS_ENDPOINT_URL", format!("http://{closed}")),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
    ])
    .await;
    let output = run.output;
    assert_eq!((run.served, run.code), (false, Some(2)), "{output}");
    assert!(
        output.contains(&format!("reading the SSM parameters under {path}/")),
        "{output}"
    );
    assert!(!output.contains(LOADED), "{output}");
}
