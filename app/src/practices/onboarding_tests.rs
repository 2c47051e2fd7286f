//! Onboarding against a stubbed Sikka (wiremock): account resolution, repeat deliveries,
//! reconciler passes, `API2007`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::pms::sikka::{RetryPolicy, SikkaConfig};
use crate::practices::{LocalOptions, MemoryCredentials};

use crate::audit::memory::MemoryAudit as Audit;

trait Reasons {
    fn reasons(&self) -> Vec<(AuditOutcome, Option<AccountId>, String)>;
}

impl Reasons for Audit {
    fn reasons(&self) -> Vec<(AuditOutcome, Option<AccountId>, String)> {
        self.events()
            .into_iter()
            .map(|e| (e.outcome, e.account_id, e.reason.unwrap_or_default()))
            .collect()
    }
}

struct Rig {
    onboarding: Arc<Onboarding>,
    store: Arc<MemoryCredentials>,
    audit: Arc<Audit>,
    directory: Arc<LocalDirectory>,
    _dir: tempfile::TempDir,
}

fn rig(server: &MockServer) -> Rig {
    let mut config = SikkaConfig::new("app-1", Secret::new("app-key-1"));
    config.base_url = server.uri();
    config.call_timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_attempts: 1,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(5),
        attempt_timeout: Duration::from_secs(2),
    };
    let client = SikkaClient::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("practices.json");
    let sikka = |account: &str, office: &str| {
        json!({"account_id": account, "name": "P", "time_zone": "America/New_York",
               "pms": {"kind": "sikka", "office_id": office, "practice_id": "1", "pms_type": "Dentrix"}})
    };
    let practices = json!({"practices": [
        sikka("acct_a", "D100"),
        sikka("acct_b", "D200"),
        {"account_id": "acct_sand", "name": "S", "time_zone": "America/New_York", "pms": {"kind": "sandbox"}},
    ]});
    std::fs::write(&file, practices.to_string()).unwrap();
    let store = Arc::new(MemoryCredentials::new());
    let options = LocalOptions {
        write_delay: Duration::ZERO,
        extra_patients: Vec::new(),
        sikka: Some(client.clone()),
        credentials: store.clone(),
        clock: crate::clock::Clock::system(),
        schedule: None,
        leases: Arc::new(crate::state::OneProcess),
    };
    let directory = Arc::new(LocalDirectory::load(Some(&file), &options).unwrap());
    let audit = Arc::new(Audit::default());
    let onboarding = Arc::new(Onboarding::new(
        Some(client),
        store.clone(),
        directory.clone(),
        audit.clone(),
    ));
    Rig {
        onboarding,
        store,
        audit,
        directory,
        _dir: dir,
    }
}

fn grant(key: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "request_key": key, "refresh_key": format!("{key}-refresh"),
        "expires_in": "86400 second(s)", "status": "active"
    }))
}

fn api2007() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({
        "http_code": "401", "error_code": "API2007", "short_message": "Unauthorized",
        "long_message": "", "more_information": ""
    }))
}

fn authorized(items: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "offset": "0", "limit": "500", "total_count": "", "pagination": {"next": ""}, "items": items
    }))
}

fn origin() -> Origin {
    Origin {
        resource: "/pms/sikka/webhook/authorize".into(),
        actor: "sikka".into(),
        ..Origin::default()
    }
}

#[tokio::test]
async fn an_account_claim_must_match_the_office_binding() {
    let server = MockServer::start().await;
    let r = rig(&server);
    let o = &r.onboarding;
    let d100 = OfficeId::new("D100");
    assert_eq!(o.resolve(&d100, None).await.unwrap().as_str(), "acct_a");
    let a = AccountId::new("acct_a");
    assert_eq!(o.resolve(&d100, Some(&a)).await.unwrap(), a);
    for (office, claim, words) in [
        ("D100", Some("acct_b"), "not bound to Sikka office D100"),
        ("D100", Some("acct_sand"), "not bound to Sikka office D100"),
        ("D100", Some("acct_nobody"), "not known"),
        ("D999", None, "not bound to any account"),
        ("D999", Some("acct_a"), "not bound to Sikka office D999"),
    ] {
        let claim = claim.map(AccountId::new);
        let err = o
            .resolve(&OfficeId::new(office), claim.as_ref())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(words), "{office} {claim:?}: {err}");
    }
}

#[tokio::test]
async fn onboarding_stores_once_and_a_repeat_changes_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .and(body_partial_json(json!({"grant_type": "request_key", "office_id": "D100", "secret_key": "s-1", "app_id": "app-1"})))
        .respond_with(grant("rk-1"))
        .expect(1)
        .mount(&server)
        .await;
    let r = rig(&server);
    let (office, secret) = (OfficeId::new("D100"), Secret::new("s-1"));
    let (account, done) = r
        .onboarding
        .onboard(&origin(), &office, &secret, None)
        .await
        .unwrap();
    assert_eq!((account.as_str(), done), ("acct_a", Onboarded::Stored));
    let (_, again) = r
        .onboarding
        .onboard(&origin(), &office, &secret, None)
        .await
        .unwrap();
    assert_eq!(again, Onboarded::Unchanged);
    let stored = r.store.load(&account).await.unwrap().unwrap();
    assert_eq!(stored.secret_key.expose(), "s-1");
    assert_eq!(stored.request_key.unwrap().expose(), "rk-1");
    assert!(!stored.revoked);
    let audited = r.audit.reasons();
    assert_eq!(audited.len(), 3, "{audited:?}");
    let outcomes: Vec<_> = audited.iter().map(|(o, _, _)| *o).collect();
    assert_eq!(
        outcomes,
        [
            AuditOutcome::Intent,
            AuditOutcome::Success,
            AuditOutcome::Success
        ]
    );
    assert!(audited.iter().all(|(_, a, _)| a.as_ref() == Some(&account)));
    assert!(
        audited.iter().all(|(_, _, why)| why.contains("D100")
            && !why.contains("s-1")
            && !why.contains("rk-1"))
    );
}

#[tokio::test]
async fn an_unmapped_office_is_refused_and_audited_without_calling_sikka() {
    let server = MockServer::start().await;
    let r = rig(&server);
    let err = r
        .onboarding
        .onboard(&origin(), &OfficeId::new("D999"), &Secret::new("s"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, OnboardError::Unmapped(_)));
    let audited = r.audit.reasons();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].0, AuditOutcome::Denied);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_reconciler_onboards_mapped_offices_only_and_marks_api2007_revoked() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/authorized_practices"))
        .respond_with(authorized(json!([
            {"office_id": "D999", "secret_key": "s-unmapped", "practice_id": "1"},
            {"office_id": "D100", "secret_key": "s-100", "practice_id": "1"},
            {"office_id": "D100", "secret_key": "s-100", "practice_id": "1-0"},
        ])))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .and(body_partial_json(json!({"office_id": "D100"})))
        .respond_with(grant("rk-100"))
        .expect(1)
        .mount(&server)
        .await;
    // D200 is bound and has credentials, but is no longer listed: Sikka says API2007.
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .and(body_partial_json(json!({"office_id": "D200"})))
        .respond_with(api2007())
        .mount(&server)
        .await;
    let r = rig(&server);
    let b = AccountId::new("acct_b");
    r.store
        .save(
            &b,
            &SikkaCredentials::new(OfficeId::new("D200"), Secret::new("s-200")),
        )
        .await
        .unwrap();

    let first = r.onboarding.reconcile_once().await.unwrap();
    assert_eq!(
        first,
        ReconcileReport {
            onboarded: 1,
            unmapped: 1,
            revoked: 1,
            ..Default::default()
        }
    );
    assert!(
        r.store
            .load(&AccountId::new("acct_a"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(r.store.load(&b).await.unwrap().unwrap().revoked);
    let second = r.onboarding.reconcile_once().await.unwrap();
    assert_eq!(
        second,
        ReconcileReport {
            unchanged: 1,
            unmapped: 1,
            ..Default::default()
        }
    );
    // Two changes, each audited before (intent) and after: D100 stored, D200 revoked; the quiet
    // second pass adds none.
    assert_eq!(r.audit.reasons().len(), 4, "{:?}", r.audit.reasons());

    // The revoked practice's calls say staff must act, without asking Sikka.
    let practice = r.directory.by_account(&b).await.unwrap().unwrap();
    let before = server.received_requests().await.unwrap().len();
    let err = practice.pms.providers().await.unwrap_err();
    assert!(
        matches!(err, crate::pms::PmsError::Misconfigured(_)),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), before);
}

#[tokio::test]
async fn credentials_are_not_stored_when_the_intent_cannot_be_audited() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/request_key"))
        .respond_with(grant("rk-1"))
        .mount(&server)
        .await;
    let r = rig(&server);
    r.audit.refuse(Some(|_| true));
    let (office, secret) = (OfficeId::new("D100"), Secret::new("s-1"));
    let refused = r
        .onboarding
        .onboard(&origin(), &office, &secret, None)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let account = AccountId::new("acct_a");
    assert!(
        r.store.load(&account).await.unwrap().is_none(),
        "nothing was stored"
    );
    // Once the trail can be written again, the intent comes first, then the outcome.
    r.audit.refuse(None);
    r.onboarding
        .onboard(&origin(), &office, &secret, None)
        .await
        .unwrap();
    let outcomes: Vec<_> = r.audit.reasons().into_iter().map(|(o, _, _)| o).collect();
    assert_eq!(outcomes, [AuditOutcome::Intent, AuditOutcome::Success]);
}
