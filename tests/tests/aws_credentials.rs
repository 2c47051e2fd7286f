//! Practices' Sikka credentials in Secrets Manager, against moto: the library's
//! `SecretsManagerCredentials` on its own (the `aws` profile does not serve calls yet). What
//! Secrets Manager received is counted by an interceptor on the store's SDK client, independently
//! of the store's own counters, and read back with a plain client.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_sdk_secretsmanager::config::{
    ConfigBag, Intercept, RuntimeComponents, interceptors::BeforeTransmitInterceptorContextRef,
    retry::RetryConfig,
};
use gateway::aws::secrets::{
    NEGATIVE_TTL, SecretReadError, SecretsConfig, SecretsManagerCredentials, read_secret_string,
};
use gateway::pms::{AccountId, OfficeId};
use gateway::practices::{CredentialStore, SikkaCredentials, StoreError};
use gateway::secret::Secret;
use gateway_tests::{moto::Moto, unique};

/// Every request a client sent, by operation (`GetSecretValue`, …), retries included.
#[derive(Debug, Default, Clone)]
struct Requests(Arc<Mutex<Vec<String>>>);

impl Requests {
    fn count(&self, operation: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|o| *o == operation)
            .count()
    }
    fn total(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "count requests"
    }
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let target = context.request().headers().get("x-amz-target");
        let operation = target.and_then(|t| t.rsplit('.').next()).unwrap_or("?");
        self.0.lock().unwrap().push(operation.to_owned());
        Ok(())
    }
}

/// An environment of its own (`parlae/<env>`) for one test, its credentials cached for `ttl`.
fn config(ttl: Duration) -> SecretsConfig {
    let env = unique("e").replace('_', "-");
    SecretsConfig {
        name_prefix: format!("parlae/{env}/pms/sikka/"),
        environment: env,
        ttl,
        kms_key_id: Some("alias/parlae-secrets".into()),
    }
}

/// A store (one task's) on a client whose requests are counted, retrying quickly.
fn counted(moto: &Moto, config: &SecretsConfig) -> (SecretsManagerCredentials, Requests) {
    let requests = Requests::default();
    let client = aws_sdk_secretsmanager::Client::from_conf(
        moto.secrets_config()
            .interceptor(requests.clone())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build(),
    );
    (
        SecretsManagerCredentials::new(client, config.clone()),
        requests,
    )
}

/// Another task's store: the same environment, a cache of its own.
fn twin(moto: &Moto, config: &SecretsConfig) -> SecretsManagerCredentials {
    counted(moto, config).0
}

fn creds(request_key: Option<&str>) -> SikkaCredentials {
    let mut c = SikkaCredentials::new(OfficeId::new("D36225"), Secret::new("office-secret"));
    c.request_key = request_key.map(Secret::new);
    c
}

/// The current value, as any client reads it (`AWSCURRENT` named: moto's default version does
/// not follow `UpdateSecretVersionStage`, AWS's does).
async fn raw(moto: &Moto, name: &str) -> serde_json::Value {
    let out = moto
        .secrets()
        .get_secret_value()
        .secret_id(name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .unwrap_or_else(|e| panic!("reading {name}: {e:?}"));
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

async fn put_raw(moto: &Moto, name: &str, value: &str) {
    moto.secrets()
        .put_secret_value()
        .secret_id(name)
        .secret_string(value)
        .send()
        .await
        .unwrap_or_else(|e| panic!("writing {name}: {e:?}"));
}

async fn load(store: &SecretsManagerCredentials, account: &AccountId) -> SikkaCredentials {
    store
        .load(account)
        .await
        .unwrap_or_else(|e| panic!("loading {account}: {e}"))
        .unwrap_or_else(|| panic!("{account} has credentials"))
}

/// Loads until `done` holds, failing after ten seconds (the TTLs here are well under).
async fn load_until(
    store: &SecretsManagerCredentials,
    account: &AccountId,
    done: impl Fn(&Result<Option<SikkaCredentials>, StoreError>) -> bool,
) -> Result<Option<SikkaCredentials>, StoreError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = store.load(account).await;
        if done(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "still {got:?} after 10 s");
        // The polling interval while the cache entry ages.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn first_save_creates_the_tagged_secret_and_later_saves_put_merged_versions() {
    let moto = Moto::start();
    let config = config(Duration::from_secs(300));
    let store = twin(&moto, &config);
    let account = AccountId::new("acct_1");
    let name = format!("{}acct_1", config.name_prefix);
    assert_eq!(store.secret_name(&account), name);

    store.save(&account, &creds(None)).await.unwrap();

    let described = moto
        .secrets()
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(described.name(), Some(name.as_str()));
    assert_eq!(described.kms_key_id(), Some("alias/parlae-secrets"));
    let mut tags: Vec<_> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect();
    tags.sort();
    let expected = [
        ("account-id", "acct_1"),
        ("environment", config.environment.as_str()),
        ("managed-by", "practice-gateway"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(tags, expected);
    let value = raw(&moto, &name).await;
    assert_eq!(value["office_id"], "D36225");
    assert_eq!(value["secret_key"], "office-secret");

    // Another task reads what this one wrote.
    assert_eq!(load(&twin(&moto, &config), &account).await, creds(None));

    // An operator's note on the record, a field the gateway does not know.
    let mut noted = value.clone();
    noted["note"] = "rotated by hand in March".into();
    put_raw(&moto, &name, &noted.to_string()).await;
    let mut renewed = creds(Some("request-key-2"));
    renewed.expires_at = Some("2030-01-01T00:00:00Z".parse().unwrap());
    store.save(&account, &renewed).await.unwrap();

    let value = raw(&moto, &name).await;
    assert_eq!(value["request_key"], "request-key-2");
    assert_eq!(value["expires_at"], "2030-01-01T00:00:00Z");
    assert_eq!(
        value["note"], "rotated by hand in March",
        "unknown field kept"
    );
    assert_eq!(load(&twin(&moto, &config), &account).await, renewed);
    assert_eq!(load(&store, &account).await, renewed);
    let stats = store.stats();
    assert_eq!((stats.creates, stats.puts), (1, 1), "{stats:?}");
    let versions = moto
        .secrets()
        .list_secret_version_ids()
        .secret_id(&name)
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 3, "created, noted, renewed");
}

#[tokio::test]
async fn two_tasks_updating_the_same_practice_at_once_lose_neither_update() {
    let moto = Moto::start();
    let config = config(Duration::from_secs(300));
    let (a, b) = (twin(&moto, &config), twin(&moto, &config));
    for round in 0..8 {
        let account = AccountId::new(format!("acct_{round}"));
        a.save(&account, &creds(None)).await.unwrap();
        let base = load(&b, &account).await;
        // Task A renews the request key; task B, at the same moment, marks the practice revoked.
        let mut renewed = base.clone();
        renewed.request_key = Some(Secret::new(format!("key-{round}")));
        renewed.expires_at = Some("2030-01-01T00:00:00Z".parse().unwrap());
        let mut revoked = base.clone();
        revoked.revoked = true;
        let (ra, rb) = tokio::join!(a.save(&account, &renewed), b.save(&account, &revoked));
        ra.unwrap();
        rb.unwrap();
        let value = raw(&moto, &format!("{}{account}", config.name_prefix)).await;
        assert_eq!(
            value["request_key"],
            format!("key-{round}"),
            "round {round}"
        );
        assert_eq!(value["revoked"], true, "round {round}");
    }
    let conflicts = a.stats().conflicts + b.stats().conflicts;
    assert!(
        conflicts > 0,
        "the writes never raced: the test proves nothing"
    );
}

#[tokio::test]
async fn a_thousand_loads_for_one_practice_read_the_secret_once() {
    let moto = Moto::start();
    let config = config(Duration::from_secs(300));
    let account = AccountId::new("acct_busy");
    twin(&moto, &config)
        .save(&account, &creds(Some("k")))
        .await
        .unwrap();
    let (store, requests) = counted(&moto, &config);
    let store = Arc::new(store);

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let (store, account) = (store.clone(), account.clone());
        calls.spawn(async move { load(&store, &account).await });
    }
    while let Some(got) = calls.join_next().await {
        assert_eq!(got.unwrap(), creds(Some("k")));
    }
    for _ in 0..500 {
        assert_eq!(load(&store, &account).await, creds(Some("k")));
    }

    assert_eq!(requests.count("GetSecretValue"), 1, "{:?}", requests.0);
    assert_eq!(requests.total(), 1, "{:?}", requests.0);
    let stats = store.stats();
    assert_eq!((stats.gets, stats.hits, stats.misses), (1, 999, 1));
}

#[tokio::test]
async fn after_the_ttl_an_unchanged_secret_is_described_and_a_changed_one_read_again() {
    let moto = Moto::start();
    let config = config(Duration::from_millis(300));
    let account = AccountId::new("acct_ttl");
    twin(&moto, &config)
        .save(&account, &creds(Some("k1")))
        .await
        .unwrap();
    let (store, requests) = counted(&moto, &config);
    assert_eq!(load(&store, &account).await, creds(Some("k1")));
    assert_eq!(requests.count("GetSecretValue"), 1);

    load_until(&store, &account, |_| requests.count("DescribeSecret") == 1)
        .await
        .unwrap();
    assert_eq!(
        requests.count("GetSecretValue"),
        1,
        "unchanged: not read again"
    );
    assert_eq!(store.stats().describes, 1);

    // Another task renews the key.
    twin(&moto, &config)
        .save(&account, &creds(Some("k2")))
        .await
        .unwrap();
    let got = load_until(
        &store,
        &account,
        |got| matches!(got, Ok(Some(c)) if c.request_key == Some(Secret::new("k2"))),
    )
    .await;
    assert_eq!(got.unwrap().unwrap(), creds(Some("k2")));
    assert_eq!(requests.count("GetSecretValue"), 2, "{:?}", requests.0);
    assert_eq!(requests.count("DescribeSecret"), 2, "{:?}", requests.0);
}

#[tokio::test]
async fn with_secrets_manager_gone_a_cached_value_keeps_serving_and_nothing_cached_is_unavailable()
{
    let moto = Moto::start();
    let config = config(Duration::from_millis(200));
    let account = AccountId::new("acct_cached");
    let (store, requests) = counted(&moto, &config);
    store.save(&account, &creds(Some("k"))).await.unwrap();
    assert_eq!(load(&store, &account).await, creds(Some("k")));
    drop(moto);

    let got = load_until(&store, &account, |_| store.stats().stale_served > 0).await;
    assert_eq!(got.unwrap().unwrap(), creds(Some("k")), "the stale value");
    assert!(requests.count("DescribeSecret") >= 1, "{:?}", requests.0);
    let never_cached = store.load(&AccountId::new("acct_other")).await;
    assert!(
        matches!(never_cached, Err(StoreError::Unavailable(_))),
        "{never_cached:?}"
    );
    // While it is down, a load behind the stale value does not ask again at every call.
    let asked = requests.total();
    for _ in 0..50 {
        assert_eq!(load(&store, &account).await, creds(Some("k")));
    }
    assert_eq!(requests.total(), asked, "{:?}", requests.0);
}

#[tokio::test]
async fn an_unknown_practice_has_no_credentials_and_is_remembered_until_a_save() {
    let moto = Moto::start();
    let config = config(Duration::from_secs(300));
    let (store, requests) = counted(&moto, &config);
    let account = AccountId::new("acct_unknown");
    assert_eq!(store.load(&account).await.unwrap(), None);
    assert_eq!(requests.total(), 1);
    for _ in 0..100 {
        assert_eq!(store.load(&account).await.unwrap(), None);
    }
    assert_eq!(
        requests.total(),
        1,
        "within {NEGATIVE_TTL:?} an unknown practice costs no call: {:?}",
        requests.0
    );

    store.save(&account, &creds(Some("k"))).await.unwrap();
    let asked = requests.total();
    assert_eq!(
        load(&store, &account).await,
        creds(Some("k")),
        "the save replaced the entry"
    );
    assert_eq!(requests.total(), asked);
}

#[tokio::test]
async fn a_secret_that_is_not_a_credential_record_is_corrupt_and_its_value_never_shown() {
    use tracing_subscriber::util::SubscriberInitExt;
    let moto = Moto::start();
    let config = config(Duration::from_secs(300));
    let canary = "CANARY-5e1d-value";
    let seeds = [
        ("acct_text", format!("{canary} is not JSON")),
        (
            "acct_field",
            format!(r#"{{"office_id": "D1", "secret_key": "s", "revoked": "{canary}"}}"#),
        ),
        ("acct_list", format!(r#"["{canary}"]"#)),
    ];
    for (account, value) in &seeds {
        moto.secrets()
            .create_secret()
            .name(format!("{}{account}", config.name_prefix))
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .set_default();
    let store = twin(&moto, &config);

    for (account, _) in &seeds {
        let account = AccountId::new(*account);
        let loaded = store.load(&account).await;
        let Err(StoreError::Corrupt(why)) = &loaded else {
            panic!("{account}: {loaded:?}");
        };
        assert!(why.contains(&store.secret_name(&account)), "{why}");
        assert!(!why.contains(canary), "the value reached the error: {why}");
    }
    let Err(StoreError::Corrupt(why)) = store.load(&AccountId::new("acct_field")).await else {
        panic!("acct_field stays corrupt")
    };
    assert!(why.contains("revoked"), "names the field at fault: {why}");
    // A save over a value that is not a JSON object is refused; one over a record with a bad
    // known field replaces that field (as onboarding's new credentials should).
    for account in ["acct_text", "acct_list"] {
        let saved = store
            .save(&AccountId::new(account), &creds(Some("k")))
            .await;
        assert!(matches!(saved, Err(StoreError::Corrupt(_))), "{saved:?}");
    }
    let account = AccountId::new("acct_field");
    store.save(&account, &creds(Some("k"))).await.unwrap();
    assert_eq!(load(&store, &account).await, creds(Some("k")));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("acct_field"), "{logs}");
    assert!(!logs.contains(canary), "a value reached the log: {logs}");
    // Nothing was overwritten.
    let kept = moto
        .secrets()
        .get_secret_value()
        .secret_id(format!("{}acct_text", config.name_prefix))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.secret_string(), Some(seeds[0].1.as_str()));
}

#[tokio::test]
async fn a_practice_vapi_secret_reference_is_read_as_a_secret() {
    let moto = Moto::start();
    let client = moto.secrets();
    client
        .create_secret()
        .name("parlae/dev/vapi/acct_1")
        .secret_string("vapi-shared-secret")
        .send()
        .await
        .unwrap();
    let secret = read_secret_string(&client, "parlae/dev/vapi/acct_1")
        .await
        .unwrap();
    assert_eq!(secret.expose(), "vapi-shared-secret");
    let missing = read_secret_string(&client, "parlae/dev/vapi/nobody").await;
    assert!(
        matches!(&missing, Err(SecretReadError::NotFound(name)) if name == "parlae/dev/vapi/nobody"),
        "{missing:?}"
    );
}

/// What the library logged while a test ran.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
