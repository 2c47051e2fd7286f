//! The `aws` profile's practices and route table from SSM Parameter Store, against moto: the
//! library's `SsmDirectory` on its own (the profile does not serve calls yet), seeded through
//! the emulator's SSM API the way an operator's tooling writes it.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aws_sdk_ssm::types::ParameterType;
use gateway::aws::practices::{LoadStats, SsmDirectory};
use gateway::practices::{
    Binding, LocalOptions, MemoryCredentials, Practice, PracticeDirectory, PracticeKey,
};
use gateway_tests::{moto::Moto, unique};

/// A deployment environment of its own for one test: `/parlae/<env>`.
fn env_root() -> String {
    format!("/parlae/{}", unique("t").replace('_', "-"))
}

fn options() -> LocalOptions {
    LocalOptions {
        write_delay: Duration::ZERO,
        extra_patients: Vec::new(),
        sikka: None,
        credentials: Arc::new(MemoryCredentials::new()),
        clock: gateway_tests::clock(),
        schedule: None,
        leases: Arc::new(gateway::state::OneProcess),
    }
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {name}: {}", aws_sdk_ssm::error::DisplayErrorContext(e)));
}

/// A sandbox practice `account` named `name` in `zone`, and its phone route `pn_<account>`.
async fn put_practice(
    ssm: &aws_sdk_ssm::Client,
    root: &str,
    account: &str,
    name: &str,
    zone: &str,
) {
    let value = serde_json::json!({
        "name": name,
        "time_zone": zone,
        "transfer_number": "+15105550198",
        "pms": { "kind": "sandbox" },
    });
    put(
        ssm,
        &format!("{root}/practices/{account}"),
        &value.to_string(),
    )
    .await;
    put(ssm, &format!("{root}/routes/phone/pn_{account}"), account).await;
}

async fn load(moto: &Moto, root: &str) -> SsmDirectory {
    SsmDirectory::load(moto.ssm(), root, options())
        .await
        .unwrap_or_else(|e| panic!("loading the practices under {root}: {e}"))
}

fn phone(id: &str) -> PracticeKey {
    PracticeKey {
        phone_number_id: Some(id.to_owned()),
        ..Default::default()
    }
}

async fn resolve(directory: &SsmDirectory, key: &PracticeKey) -> Option<Arc<Practice>> {
    match directory.resolve(key).await.expect("the directory answers") {
        Binding::Bound(practice) => Some(practice),
        Binding::NotSetUp => None,
        Binding::Disagrees => panic!("{key:?}: no account was claimed, nothing can disagree"),
    }
}

#[tokio::test]
async fn a_practice_and_its_routes_resolve() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    put_practice(
        &ssm,
        &root,
        "acct_denver",
        "Mile High Dental",
        "America/Denver",
    )
    .await;
    put(
        &ssm,
        &format!("{root}/routes/assistant/asst_denver"),
        "acct_denver",
    )
    .await;

    let directory = load(&moto, &root).await;

    let practice = resolve(&directory, &phone("pn_acct_denver"))
        .await
        .expect("the phone route binds the call");
    assert_eq!(practice.profile.account_id.as_str(), "acct_denver");
    assert_eq!(practice.profile.name, "Mile High Dental");
    assert_eq!(
        practice.profile.time_zone.iana_name(),
        Some("America/Denver")
    );
    assert_eq!(
        practice
            .transfer_destination()
            .expect("a transfer number")
            .last_four(),
        "0198"
    );
    let web = PracticeKey {
        assistant_id: Some("asst_denver".into()),
        ..Default::default()
    };
    let by_assistant = resolve(&directory, &web)
        .await
        .expect("the assistant route binds");
    assert!(
        Arc::ptr_eq(&practice, &by_assistant),
        "one practice behind both routes"
    );
    assert_eq!(
        directory.stats(),
        LoadStats {
            practices: 1,
            routes: 2,
            rejected: 0
        }
    );
}

#[tokio::test]
async fn a_practice_added_after_the_load_resolves_after_refresh() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    put_practice(&ssm, &root, "acct_first", "First Dental", "America/Chicago").await;
    let directory = load(&moto, &root).await;
    let before = resolve(&directory, &phone("pn_acct_first"))
        .await
        .expect("the first practice binds");
    put_practice(&ssm, &root, "acct_new", "New Dental", "America/New_York").await;
    assert!(
        resolve(&directory, &phone("pn_acct_new")).await.is_none(),
        "not read yet"
    );

    let stats = directory.refresh().await.expect("refresh");

    assert_eq!(
        stats,
        LoadStats {
            practices: 2,
            routes: 2,
            rejected: 0
        }
    );
    let practice = resolve(&directory, &phone("pn_acct_new"))
        .await
        .expect("the new practice binds after a refresh");
    assert_eq!(practice.profile.name, "New Dental");
    let after = resolve(&directory, &phone("pn_acct_first"))
        .await
        .expect("the first practice still binds");
    assert!(
        Arc::ptr_eq(&before, &after),
        "an unchanged entry keeps its practice (and its system's state) across a refresh"
    );
}

#[tokio::test]
async fn the_background_refresh_picks_up_a_new_practice_within_its_interval() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    put_practice(&ssm, &root, "acct_first", "First Dental", "America/Chicago").await;
    let directory = Arc::new(load(&moto, &root).await);
    let interval = Duration::from_millis(200);
    let task = directory.spawn_refresh(interval);
    put_practice(&ssm, &root, "acct_later", "Later Dental", "America/Phoenix").await;

    // Well beyond one interval, to absorb a loaded machine; the condition is polled.
    let deadline = Instant::now() + Duration::from_secs(20);
    let practice = loop {
        if let Some(practice) = resolve(&directory, &phone("pn_acct_later")).await {
            break practice;
        }
        assert!(
            Instant::now() < deadline,
            "the background refresh (every {interval:?}) never loaded the new practice"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(practice.profile.name, "Later Dental");
    assert!(!task.is_finished(), "the refresh task keeps running");
    task.abort();
}

#[tokio::test]
async fn malformed_entries_are_skipped_and_counted_and_the_good_one_resolves() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    put_practice(&ssm, &root, "acct_good", "Good Dental", "America/Denver").await;
    put(
        &ssm,
        &format!("{root}/practices/acct_json"),
        "{\"name\": \"Broken",
    )
    .await;
    put_practice(&ssm, &root, "acct_zone", "Zone Dental", "America/Atlantis").await;
    let bad_number = serde_json::json!({
        "name": "Number Dental",
        "time_zone": "America/Denver",
        "transfer_number": "555-not-a-number",
        "pms": { "kind": "sandbox" },
    });
    put(
        &ssm,
        &format!("{root}/practices/acct_number"),
        &bad_number.to_string(),
    )
    .await;
    let unknown_field = serde_json::json!({
        "name": "Typo Dental",
        "time_zone": "America/Denver",
        "tranfser_number": "+15105550198",
        "pms": { "kind": "sandbox" },
    });
    put(
        &ssm,
        &format!("{root}/practices/acct_typo"),
        &unknown_field.to_string(),
    )
    .await;
    put(&ssm, &format!("{root}/routes/fax/fx_1"), "acct_good").await;

    let directory = load(&moto, &root).await;

    let good = resolve(&directory, &phone("pn_acct_good"))
        .await
        .expect("the good practice still binds");
    assert_eq!(good.profile.name, "Good Dental");
    assert!(resolve(&directory, &phone("pn_acct_zone")).await.is_none());
    // acct_json, acct_zone (and its route), acct_number, acct_typo, the fax route.
    assert_eq!(
        directory.stats(),
        LoadStats {
            practices: 1,
            routes: 1,
            rejected: 6
        }
    );
}

#[tokio::test]
async fn a_route_to_an_account_with_no_practice_is_not_set_up() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    put_practice(&ssm, &root, "acct_real", "Real Dental", "America/Denver").await;
    put(&ssm, &format!("{root}/routes/phone/pn_ghost"), "acct_ghost").await;

    let directory = load(&moto, &root).await;

    assert!(
        resolve(&directory, &phone("pn_ghost")).await.is_none(),
        "a route naming no practice binds nothing"
    );
    assert_eq!(directory.stats().rejected, 1);
}

#[tokio::test]
async fn practices_and_routes_beyond_the_first_page_all_load() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    let accounts: Vec<String> = (0..23).map(|n| format!("acct_{n:02}")).collect();
    for account in &accounts {
        put_practice(
            &ssm,
            &root,
            account,
            &format!("Dental {account}"),
            "America/Denver",
        )
        .await;
    }
    let first_page = ssm
        .get_parameters_by_path()
        .path(format!("{root}/practices"))
        .recursive(true)
        .send()
        .await
        .expect("first page");
    assert!(
        first_page.next_token().is_some(),
        "the practices span pages"
    );

    let directory = load(&moto, &root).await;

    for account in &accounts {
        let practice = resolve(&directory, &phone(&format!("pn_{account}")))
            .await
            .unwrap_or_else(|| panic!("{account} did not load"));
        assert_eq!(practice.profile.account_id.as_str(), account);
    }
    assert_eq!(
        directory.stats(),
        LoadStats {
            practices: 23,
            routes: 23,
            rejected: 0
        }
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_snapshot() {
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    put_practice(&ssm, &root, "acct_kept", "Kept Dental", "America/Denver").await;
    let directory = load(&moto, &root).await;

    drop(moto);
    let error = directory
        .refresh()
        .await
        .expect_err("Parameter Store is gone");

    assert!(
        error.to_string().contains(&format!("{root}/practices/")),
        "{error}"
    );
    let practice = resolve(&directory, &phone("pn_acct_kept"))
        .await
        .expect("the last good snapshot keeps serving");
    assert_eq!(practice.profile.name, "Kept Dental");
}

/// Log lines written while the guard lives, for one current-thread test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_rejected_entry_is_logged_by_its_name_never_its_value() {
    use tracing_subscriber::util::SubscriberInitExt;
    let moto = Moto::start();
    let ssm = moto.ssm();
    let root = env_root();
    let canary = "CANARY-7f3a-value";
    put(
        &ssm,
        &format!("{root}/practices/acct_canary"),
        &format!("{{\"name\": \"{canary}\", \"time_zone\": 7}}"),
    )
    .await;
    put(&ssm, &format!("{root}/routes/phone/pn_canary"), canary).await;
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .set_default();

    let directory = load(&moto, &root).await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(directory.stats().rejected, 2, "{logs}");
    assert!(
        logs.contains(&format!("{root}/practices/acct_canary")),
        "{logs}"
    );
    assert!(
        logs.contains(&format!("{root}/routes/phone/pn_canary")),
        "{logs}"
    );
    assert!(
        !logs.contains(canary),
        "a parameter's value reached the log: {logs}"
    );
}
