//! Onboarding practices that authorized the application in Sikka: an office's `secret_key` is
//! proven by minting a request key with it, then stored through the [`CredentialStore`]. Two
//! ways in: Sikka's `app.authorized` webhook ([`Onboarding::onboard`]) and the reconciler, which
//! polls `authorized_practices` ([`Onboarding::reconcile_once`]) and also notices offices that
//! withdrew (`API2007`: the credential record is marked `revoked`, and the practice's calls
//! answer that staff must act).
//!
//! An office is onboarded only onto the account the practices store binds it to. A claimed
//! account must be that same account: an account bound to another office (or to no Sikka office)
//! is refused, never re-bound, and an unbound office is never given to "the first" account.
//! Every credential change, refusal and failure is audited with the account and office, never a
//! credential value.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    CredentialStore, DirectoryError, LocalDirectory, PracticeDirectory, SikkaCredentials,
    StoreError,
};
use crate::audit::{AuditAction, AuditActor, AuditError, AuditEvent, AuditOutcome, AuditSink};
use crate::pms::sikka::{SikkaClient, SikkaError};
use crate::pms::{AccountId, OfficeId};
use crate::secret::Secret;

/// Which account each Sikka office belongs to, as the practices store says.
#[async_trait]
pub trait SikkaOffices: PracticeDirectory {
    async fn account_for_sikka_office(
        &self,
        office: &OfficeId,
    ) -> Result<Option<AccountId>, DirectoryError>;
    /// Every office bound to an account.
    async fn sikka_bindings(&self) -> Result<Vec<(OfficeId, AccountId)>, DirectoryError>;
}

#[async_trait]
impl SikkaOffices for LocalDirectory {
    async fn account_for_sikka_office(
        &self,
        office: &OfficeId,
    ) -> Result<Option<AccountId>, DirectoryError> {
        Ok(self.account_for_office(office).cloned())
    }

    async fn sikka_bindings(&self) -> Result<Vec<(OfficeId, AccountId)>, DirectoryError> {
        Ok(self
            .sikka_offices()
            .map(|(o, a)| (o.clone(), a.clone()))
            .collect())
    }
}

/// Where an onboarding request came from, for its audit entries.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The route (`/pms/sikka/webhook/authorize`) or `sikka-reconciler`.
    pub resource: String,
    /// `sikka` for webhooks, `system` for the reconciler.
    pub actor: String,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl Origin {
    fn reconciler() -> Self {
        Self {
            resource: "sikka-reconciler".into(),
            actor: "system".into(),
            ..Self::default()
        }
    }
}

/// What onboarding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onboarded {
    /// A request key was minted with the secret, and the credentials stored.
    Stored,
    /// The same secret was already stored and working: nothing changed.
    Unchanged,
}

#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error("the Sikka application is not configured (set SIKKA_APP_ID and SIKKA_APP_KEY)")]
    NotConfigured,
    /// No account can be given this office; the words say why (ids only).
    #[error("{0}")]
    Unmapped(String),
    /// Sikka refused the office's secret (or the office's authorization).
    #[error("Sikka did not accept the office's secret key: {0}")]
    Refused(SikkaError),
    /// Sikka could not be reached, or answered something unusable; a retry may succeed.
    #[error("Sikka is unavailable: {0}")]
    Upstream(SikkaError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Directory(#[from] DirectoryError),
    #[error("the audit trail could not record the change: {0}")]
    Audit(#[from] AuditError),
}

/// What one reconciler pass saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub onboarded: usize,
    pub unchanged: usize,
    /// Authorized offices that no account is bound to (left alone).
    pub unmapped: usize,
    pub revoked: usize,
    pub failed: usize,
}

pub struct Onboarding {
    client: Option<SikkaClient>,
    store: Arc<dyn CredentialStore>,
    offices: Arc<dyn SikkaOffices>,
    audit: Arc<dyn AuditSink>,
    /// One onboarding at a time (webhook and reconciler may see the same office at once).
    lock: tokio::sync::Mutex<()>,
}

impl Onboarding {
    pub fn new(
        client: Option<SikkaClient>,
        store: Arc<dyn CredentialStore>,
        offices: Arc<dyn SikkaOffices>,
        audit: Arc<dyn AuditSink>,
    ) -> Self {
        Self {
            client,
            store,
            offices,
            audit,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The Sikka application's id, when configured.
    pub fn app_id(&self) -> Option<&str> {
        self.client.as_ref().map(|c| c.config().app_id.as_str())
    }

    pub fn offices(&self) -> &Arc<dyn SikkaOffices> {
        &self.offices
    }

    /// The account an office is onboarded onto: the store's binding, which a claimed account must
    /// match.
    pub async fn resolve(
        &self,
        office: &OfficeId,
        claimed: Option<&AccountId>,
    ) -> Result<AccountId, OnboardError> {
        let bound = self.offices.account_for_sikka_office(office).await?;
        match (claimed, bound) {
            (Some(claimed), Some(bound)) if *claimed == bound => Ok(bound),
            (Some(claimed), _) => {
                let known = self.offices.by_account(claimed).await?.is_some();
                Err(OnboardError::Unmapped(if known {
                    format!(
                        "account {claimed} is not bound to Sikka office {office} in the practices store; bind it there first"
                    )
                } else {
                    format!("account {claimed} is not known")
                }))
            }
            (None, Some(bound)) => Ok(bound),
            (None, None) => Err(OnboardError::Unmapped(format!(
                "Sikka office {office} is not bound to any account in the practices store"
            ))),
        }
    }

    /// Onboards `office` with `secret` (the `app.authorized` webhook). A repeat with the stored,
    /// working secret changes nothing and is audited as such.
    pub async fn onboard(
        &self,
        origin: &Origin,
        office: &OfficeId,
        secret: &Secret,
        claimed: Option<&AccountId>,
    ) -> Result<(AccountId, Onboarded), OnboardError> {
        if self.client.is_none() {
            return Err(OnboardError::NotConfigured);
        }
        let account = match self.resolve(office, claimed).await {
            Ok(account) => account,
            Err(e @ OnboardError::Unmapped(_)) => {
                self.audit_quietly(
                    origin,
                    AuditOutcome::Denied,
                    claimed,
                    office,
                    &e.to_string(),
                )
                .await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let done = self
            .onboard_account(origin, &account, office, secret, true)
            .await?;
        Ok((account, done))
    }

    async fn onboard_account(
        &self,
        origin: &Origin,
        account: &AccountId,
        office: &OfficeId,
        secret: &Secret,
        audit_unchanged: bool,
    ) -> Result<Onboarded, OnboardError> {
        let client = self.client.as_ref().ok_or(OnboardError::NotConfigured)?;
        let _one_at_a_time = self.lock.lock().await;
        let stored = match self.store.load(account).await {
            Ok(stored) => stored,
            Err(e) => {
                let why = format!("credential store: {e}");
                self.audit_quietly(origin, AuditOutcome::Failed, Some(account), office, &why)
                    .await;
                return Err(e.into());
            }
        };
        if let Some(s) = &stored
            && !s.revoked
            && s.office_id == *office
            && s.secret_key == *secret
        {
            if audit_unchanged {
                self.record(
                    origin,
                    AuditOutcome::Success,
                    Some(account),
                    office,
                    "already onboarded with this secret key; nothing changed",
                )
                .await?;
            }
            return Ok(Onboarded::Unchanged);
        }
        let issued = match client.request_key(office, secret).await {
            Ok(issued) => issued,
            Err(e) => {
                let why = format!("the request-key grant failed: {e}");
                self.audit_quietly(origin, AuditOutcome::Failed, Some(account), office, &why)
                    .await;
                // Only the stored secret's own refusal says the practice withdrew: a secret
                // nobody has proven (a stale or forged delivery) never revokes working
                // credentials.
                let stored_refused = stored
                    .as_ref()
                    .is_some_and(|s| s.office_id == *office && s.secret_key == *secret);
                if e == SikkaError::PracticeNotAuthorized && stored_refused {
                    self.mark_revoked(origin, account, office).await?;
                }
                return Err(classify(e));
            }
        };
        let creds = SikkaCredentials {
            office_id: office.clone(),
            secret_key: secret.clone(),
            request_key: Some(issued.request_key),
            refresh_key: issued.refresh_key,
            expires_at: Some(issued.expires_at),
            revoked: false,
        };
        // Durably recorded before the file changes; if it cannot be, nothing is stored.
        let intent = match &stored {
            None => "about to store credentials",
            Some(_) => "about to replace stored credentials",
        };
        self.record(origin, AuditOutcome::Intent, Some(account), office, intent)
            .await?;
        if let Err(e) = self.store.save(account, &creds).await {
            let why = format!("a request key was minted but storing the credentials failed: {e}");
            self.audit_quietly(origin, AuditOutcome::Failed, Some(account), office, &why)
                .await;
            return Err(e.into());
        }
        let what = match &stored {
            None => "request key minted with the office's secret key; credentials stored",
            Some(s) if s.revoked => {
                "request key minted with the office's secret key; credentials stored and the revocation cleared"
            }
            Some(_) => "request key minted with the office's new secret key; credentials replaced",
        };
        self.record(origin, AuditOutcome::Success, Some(account), office, what)
            .await?;
        self.refresh_practice(account).await;
        Ok(Onboarded::Stored)
    }

    /// Marks the stored credentials revoked (Sikka answered `API2007`); once, not at every pass.
    async fn mark_revoked(
        &self,
        origin: &Origin,
        account: &AccountId,
        office: &OfficeId,
    ) -> Result<bool, OnboardError> {
        let Some(mut creds) = self.store.load(account).await? else {
            return Ok(false);
        };
        if creds.revoked {
            return Ok(false);
        }
        creds.revoked = true;
        let intent = "about to mark stored credentials revoked";
        self.record(origin, AuditOutcome::Intent, Some(account), office, intent)
            .await?;
        self.store.save(account, &creds).await?;
        self.record(
            origin,
            AuditOutcome::Success,
            Some(account),
            office,
            "Sikka answered API2007 (the practice no longer authorizes the application): credentials marked revoked",
        )
        .await?;
        self.refresh_practice(account).await;
        Ok(true)
    }

    async fn refresh_practice(&self, account: &AccountId) {
        if let Ok(Some(practice)) = self.offices.by_account(account).await {
            practice.pms.refresh().await;
        }
    }

    /// One reconciler pass: onboards every authorized office bound to an account whose stored
    /// credentials are missing, revoked or hold another secret; then asks Sikka about bound
    /// offices that are no longer listed and marks those it answers `API2007` for revoked.
    pub async fn reconcile_once(&self) -> Result<ReconcileReport, OnboardError> {
        let client = self.client.as_ref().ok_or(OnboardError::NotConfigured)?;
        let origin = Origin::reconciler();
        let listed = client
            .authorized_practices()
            .await
            .map_err(OnboardError::Upstream)?;
        let mut report = ReconcileReport::default();
        let mut seen = HashSet::new();
        for practice in listed {
            // One office may be listed once per practice id; its secret is the office's.
            if !seen.insert(practice.office_id.clone()) {
                continue;
            }
            let office = &practice.office_id;
            let Some(account) = self.offices.account_for_sikka_office(office).await? else {
                report.unmapped += 1;
                tracing::info!(office = %office, "an authorized Sikka office is bound to no account: left alone");
                continue;
            };
            match self
                .onboard_account(&origin, &account, office, &practice.secret_key, false)
                .await
            {
                Ok(Onboarded::Stored) => report.onboarded += 1,
                Ok(Onboarded::Unchanged) => report.unchanged += 1,
                Err(OnboardError::Refused(SikkaError::PracticeNotAuthorized)) => {
                    report.revoked += 1;
                }
                Err(e @ (OnboardError::Audit(_) | OnboardError::Directory(_))) => return Err(e),
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(office = %office, account = %account, error = %e, "onboarding failed");
                }
            }
        }
        for (office, account) in self.offices.sikka_bindings().await? {
            if seen.contains(&office) {
                continue;
            }
            let Some(creds) = self.store.load(&account).await? else {
                continue;
            };
            if creds.revoked {
                continue;
            }
            match client.request_key(&office, &creds.secret_key).await {
                Err(SikkaError::PracticeNotAuthorized) => {
                    if self.mark_revoked(&origin, &account, &office).await? {
                        report.revoked += 1;
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(office = %office, account = %account, error = %e, "an office missing from authorized_practices could not be checked");
                }
                Ok(_) => {
                    tracing::info!(office = %office, account = %account, "office missing from authorized_practices still grants keys");
                }
            }
        }
        Ok(report)
    }

    /// Runs [`Self::reconcile_once`] now and then every `every`, until the task is dropped.
    pub fn spawn_reconciler(
        self: &Arc<Self>,
        every: Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.client.as_ref()?;
        let this = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match this.reconcile_once().await {
                    Ok(report)
                        if report
                            != ReconcileReport {
                                unchanged: report.unchanged,
                                unmapped: report.unmapped,
                                ..Default::default()
                            } =>
                    {
                        tracing::info!(?report, "sikka reconciler pass changed something");
                    }
                    Ok(report) => tracing::debug!(?report, "sikka reconciler pass"),
                    Err(e) => tracing::warn!(error = %e, "sikka reconciler pass failed"),
                }
            }
        }))
    }

    /// Audits a credential change; the entry must be durable.
    async fn record(
        &self,
        origin: &Origin,
        outcome: AuditOutcome,
        account: Option<&AccountId>,
        office: &OfficeId,
        what: &str,
    ) -> Result<(), AuditError> {
        let event = AuditEvent {
            action: AuditAction::CredentialChange,
            outcome,
            resource: origin.resource.clone(),
            account_id: account.cloned(),
            actor: AuditActor {
                kind: origin.actor.clone(),
                ..AuditActor::default()
            },
            patient_ids: Vec::new(),
            request_id: origin.request_id.clone(),
            source_ip: origin.source_ip.clone(),
            reason: Some(format!("sikka office {office}: {what}")),
        };
        self.audit.record(event).await.map(|_| ())
    }

    /// Audits a refusal or failure; the caller reports the original error either way.
    async fn audit_quietly(
        &self,
        origin: &Origin,
        outcome: AuditOutcome,
        account: Option<&AccountId>,
        office: &OfficeId,
        what: &str,
    ) {
        if let Err(e) = self.record(origin, outcome, account, office, what).await {
            tracing::error!(error = %e, "audit entry for an onboarding step failed");
        }
    }
}

/// A grant failure: the office's fault (refused) or a passing/upstream one.
fn classify(e: SikkaError) -> OnboardError {
    match e {
        SikkaError::PracticeNotAuthorized
        | SikkaError::Unauthorized { .. }
        | SikkaError::Invalid { .. }
        | SikkaError::NotFound
        | SikkaError::NotInPlan
        | SikkaError::KeyExpired => OnboardError::Refused(e),
        SikkaError::Other { status, .. } if (400..500).contains(&status) => {
            OnboardError::Refused(e)
        }
        // API1005: the secret key is missing or wrong. The other setup codes are the gateway's.
        SikkaError::Misconfigured { ref code } if code == "API1005" => OnboardError::Refused(e),
        e => OnboardError::Upstream(e),
    }
}

#[cfg(test)]
#[path = "onboarding_tests.rs"]
mod tests;
