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
