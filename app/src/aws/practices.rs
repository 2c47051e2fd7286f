//! Practices and their routes from SSM Parameter Store, on the `aws` profile, refreshed in the
//! background so a practice added by an operator answers calls without a restart.
//!
//! Under `/<NAME_PREFIX>/<DEPLOY_ENV>` (see [`super::settings::env_root`]):
//! - `practices/<account_id>`: one JSON object per practice, the profile and PMS binding of a
//!   local practices-file entry without its routes ([`SsmPracticeEntry`]):
//!   `{"name": "Bright Smile Dental", "time_zone": "America/Los_Angeles",
//!   "transfer_number": "+15105550198", "staff_sms_number": "+15105550197",
//!   "phone_numbers": ["+15105550199"],
//!   "vapi_secret_ref": "parlae/dev/vapi/acct_1", "pms": {"kind": "sikka", "office_id": …}}`.
//!   `vapi_secret_ref` names where the practice's own Vapi secret is kept (Secrets Manager):
//!   a reference, never the secret; it is read once that store is built.
//! - `routes/phone/<phoneNumberId>` and `routes/assistant/<assistantId>`: an account id each.
//!
//! Both paths are read with `GetParametersByPath` (recursive, decrypted, every page) into one
//! immutable [`Snapshot`] that replaces the previous one whole, so a call never sees half a
//! refresh. A bad entry (not JSON of that shape, an unknown zone, a bad number, an office or
//! number another practice claims, a route naming an account with no practice) is logged by its
//! parameter name, never its value, counted and skipped: it never takes the others down. A failed
//! refresh keeps the last good snapshot. An entry whose value did not change keeps its
//! [`Practice`] (and the state its system holds) across refreshes.

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::pms::{AccountId, E164, OfficeId};
use crate::practices::onboarding::SikkaOffices;
use crate::practices::{
    DirectoryError, LocalOptions, LocalStoreError, PmsBinding, Practice, PracticeDirectory,
    PracticeParts, build_practice,
};

/// A practice as stored at `practices/<account_id>` (the account id is the parameter's name).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsmPracticeEntry {
    pub name: String,
    /// IANA zone name, e.g. `America/Los_Angeles`.
    pub time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_number: Option<E164>,
    /// Where messages for the front desk are texted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_sms_number: Option<E164>,
    /// The practice lines in E.164 (what binds a call that carries no phone-number id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<E164>,
    /// Where the practice's own Vapi secret is kept, when its assistants sign with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vapi_secret_ref: Option<String>,
    pub pms: PmsBinding,
}

impl SsmPracticeEntry {
    /// Reads a stored entry: JSON of this shape (the error says where it is not, never what
    /// it holds), checked like [`Self::check`].
    pub fn parse(value: &str) -> Result<Self, String> {
        let entry: Self = serde_json::from_str(value).map_err(|e| {
            format!(
                "not a practice description ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            )
        })?;
        entry.check()?;
        Ok(entry)
    }

    /// What is wrong with the entry on its own (conflicts with other practices aside): a
    /// blank name, an unknown IANA zone, a blank Sikka office, practice id or PMS type.
    pub fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("the practice has no name".into());
        }
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            return Err("unknown IANA time zone".into());
        }
        if let PmsBinding::Sikka {
            office_id,
            practice_id,
            pms_type,
            ..
        } = &self.pms
        {
            let blank = [
                ("office_id", office_id.as_str()),
                ("practice_id", practice_id.as_str()),
                ("pms_type", pms_type.as_str()),
            ]
            .into_iter()
            .find(|(_, v)| v.trim().is_empty());
            if let Some((field, _)) = blank {
                return Err(format!("the Sikka binding's {field} is blank"));
            }
        }
        if self
            .vapi_secret_ref
            .as_deref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err("vapi_secret_ref is blank".into());
        }
        Ok(())
    }
}

/// Whether `id` can be the last part of a parameter name (an account, phone-number or
/// assistant id): non-empty, at most 200 characters of letters, digits, `_`, `.` and `-`.
pub fn is_name_part(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[derive(Debug, thiserror::Error)]
pub enum PracticesError {
    #[error(transparent)]
    Ssm(#[from] super::SsmError),
}

/// What one load found: for the log line and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub practices: usize,
    pub routes: usize,
    /// Entries skipped as bad (practices and routes).
    pub rejected: usize,
}

/// One consistent view of the practices and their routes.
#[derive(Default)]
pub struct Snapshot {
    by_account: HashMap<AccountId, Arc<Practice>>,
    by_phone_number_id: HashMap<String, Arc<Practice>>,
    by_assistant_id: HashMap<String, Arc<Practice>>,
    by_phone_number: HashMap<E164, Arc<Practice>>,
    vapi_secret_refs: Vec<(AccountId, String)>,
    /// Which practice each Sikka office is bound to (for onboarding).
    by_office: HashMap<OfficeId, AccountId>,
    /// Each practice's parameter value and what it built, to keep it when unchanged.
    built: HashMap<String, (String, Arc<Practice>)>,
    stats: LoadStats,
}

/// The practices and routes of one deployment environment, kept in SSM.
pub struct SsmDirectory {
    client: aws_sdk_ssm::Client,
    practices_path: String,
    routes_path: String,
    options: LocalOptions,
    snapshot: RwLock<Arc<Snapshot>>,
    /// One refresh at a time, so an older read never replaces a newer one.
    refreshing: tokio::sync::Mutex<()>,
    failed_refreshes: AtomicU64,
    /// Counts the snapshots swapped in, so others can follow each refresh.
    generation: tokio::sync::watch::Sender<u64>,
}

impl SsmDirectory {
    /// Reads the practices under `root` (`/parlae/dev`). An unreachable store is an error; bad
    /// entries are not (they are skipped and counted).
    pub async fn load(
        client: aws_sdk_ssm::Client,
        root: &str,
        options: LocalOptions,
    ) -> Result<Self, PracticesError> {
        let root = root.trim_end_matches('/');
        let directory = Self {
            client,
            practices_path: format!("{root}/practices"),
            routes_path: format!("{root}/routes"),
            options,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            refreshing: tokio::sync::Mutex::new(()),
            failed_refreshes: AtomicU64::new(0),
            generation: tokio::sync::watch::Sender::new(0),
        };
        directory.refresh().await?;
        Ok(directory)
    }

    /// Re-reads both paths and swaps in the new snapshot; on error the last good one stays.
    pub async fn refresh(&self) -> Result<LoadStats, PracticesError> {
        let _one_at_a_time = self.refreshing.lock().await;
        let practices = fetch_all(&self.client, &self.practices_path).await?;
        let routes = fetch_all(&self.client, &self.routes_path).await?;
        let next = self.build(&practices, &routes);
        let stats = next.stats;
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        self.generation.send_modify(|n| *n += 1);
        tracing::info!(
            path = %self.practices_path,
            practices = stats.practices,
            routes = stats.routes,
            rejected = stats.rejected,
            "practices loaded from SSM Parameter Store"
        );
        Ok(stats)
    }

    /// Calls [`Self::refresh`] every `every` until the directory is dropped. A failed refresh
    /// is logged and counted; the last good snapshot keeps serving.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let directory = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate, and the directory was just loaded.
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(directory) = directory.upgrade() else {
                    return;
                };
                if let Err(error) = directory.refresh().await {
                    directory.failed_refreshes.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "refreshing the practices failed; the last good snapshot keeps serving");
                }
            }
        })
    }

    /// What the current snapshot holds (practices, routes, rejected entries).
    pub fn stats(&self) -> LoadStats {
        self.current().stats
    }

    /// Changes after each snapshot swapped in (what follows the practices, such as their own
    /// Vapi secrets, waits on it).
    pub fn refreshed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Refreshes that failed since start.
    pub fn failed_refreshes(&self) -> u64 {
        self.failed_refreshes.load(Ordering::Relaxed)
    }

    /// The practices whose assistants sign with their own Vapi secret, and where it is kept.
    pub fn vapi_secret_refs(&self) -> Vec<(AccountId, String)> {
        self.current().vapi_secret_refs.clone()
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn build(&self, practices: &[(String, String)], routes: &[(String, String)]) -> Snapshot {
        let previous = self.current();
        let mut next = Snapshot::default();
        let mut offices: HashMap<OfficeId, AccountId> = HashMap::new();
        for (parameter, value) in practices {
            match self.practice(parameter, value, &previous, &next, &mut offices) {
                Ok((practice, entry)) => {
                    let account = practice.profile.account_id.clone();
                    for number in entry.phone_numbers {
                        next.by_phone_number.insert(number, practice.clone());
                    }
                    if let Some(reference) = entry.vapi_secret_ref {
                        next.vapi_secret_refs.push((account.clone(), reference));
                    }
                    next.by_account.insert(account, practice.clone());
                    next.built
                        .insert(parameter.clone(), (value.clone(), practice));
                }
                Err(reason) => reject(&mut next, parameter, reason),
            }
        }
        next.stats.practices = next.by_account.len();
        next.by_office = offices;
        for (parameter, value) in routes {
            match self.route(parameter, value, &next) {
                Ok((table, id, practice)) => {
                    match table {
                        Route::Phone => next.by_phone_number_id.insert(id, practice),
                        Route::Assistant => next.by_assistant_id.insert(id, practice),
                    };
                    next.stats.routes += 1;
                }
                Err(reason) => reject(&mut next, parameter, reason),
            }
        }
        next
    }

    /// The practice a `practices/<account_id>` parameter describes, or why it is skipped.
    fn practice(
        &self,
        parameter: &str,
        value: &str,
        previous: &Snapshot,
        next: &Snapshot,
        offices: &mut HashMap<OfficeId, AccountId>,
    ) -> Result<(Arc<Practice>, SsmPracticeEntry), String> {
        let account = parameter
            .strip_prefix(&self.practices_path)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|id| is_name_part(id))
            .ok_or("not a practice: expected practices/<account_id>")?;
        let account = AccountId::new(account);
        let entry = SsmPracticeEntry::parse(value)?;
        if let Some(number) = entry
            .phone_numbers
            .iter()
            .find(|n| next.by_phone_number.contains_key(*n))
        {
            return Err(format!(
                "phone number ending {} is another practice's",
                number.last_four()
            ));
        }
        if let Some(other) = entry.pms.office().and_then(|office| offices.get(office)) {
            return Err(format!("its Sikka office is practice {other}'s"));
        }
        let practice = match previous.built.get(parameter) {
            Some((old, practice)) if old == value => practice.clone(),
            _ => Arc::new(
                build_practice(
                    PracticeParts {
                        account_id: account.clone(),
                        name: entry.name.clone(),
                        time_zone: entry.time_zone.clone(),
                        transfer_number: entry.transfer_number.clone(),
                        staff_sms_number: entry.staff_sms_number.clone(),
                        pms: entry.pms.clone(),
                    },
                    &self.options,
                )
                .map_err(|e| match e {
                    LocalStoreError::TimeZone { .. } => "unknown IANA time zone".to_owned(),
                    LocalStoreError::NoSikkaApp { .. } => {
                        "served through Sikka, but SIKKA_APP_ID and SIKKA_APP_KEY are not set"
                            .to_owned()
                    }
                    other => other.to_string(),
                })?,
            ),
        };
        if let Some(office) = entry.pms.office() {
            offices.insert(office.clone(), practice.profile.account_id.clone());
        }
        Ok((practice, entry))
    }

    /// The table, id and practice a `routes/…` parameter names, or why it is skipped.
    fn route(
        &self,
        parameter: &str,
        value: &str,
        next: &Snapshot,
    ) -> Result<(Route, String, Arc<Practice>), String> {
        const NOT_A_ROUTE: &str =
            "not a route: expected routes/phone/<phoneNumberId> or routes/assistant/<assistantId>";
        let rest = parameter
            .strip_prefix(&self.routes_path)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or(NOT_A_ROUTE)?;
        let (table, id) = match rest.split_once('/') {
            Some(("phone", id)) => (Route::Phone, id),
            Some(("assistant", id)) => (Route::Assistant, id),
            _ => return Err(NOT_A_ROUTE.to_owned()),
        };
        if !is_name_part(id) {
            return Err(NOT_A_ROUTE.to_owned());
        }
        let account = AccountId::new(value.trim());
        let practice = next
            .by_account
            .get(&account)
            .ok_or("names an account with no (valid) practice")?;
        Ok((table, id.to_owned(), practice.clone()))
    }
}

enum Route {
    Phone,
    Assistant,
}

fn reject(next: &mut Snapshot, parameter: &str, reason: String) {
    next.stats.rejected += 1;
    tracing::warn!(parameter, %reason, "SSM practice entry skipped");
}

/// Every parameter under `path` as (name, value), in name order.
async fn fetch_all(
    client: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Vec<(String, String)>, PracticesError> {
    let mut all: Vec<(String, String)> = super::parameters_under(client, path)
        .await?
        .into_iter()
        .filter_map(|p| Some((p.name?, p.value?)))
        .collect();
    // Name order: which of two practices claiming one number is skipped does not depend on paging.
    all.sort();
    Ok(all)
}

#[async_trait]
impl SikkaOffices for SsmDirectory {
    async fn account_for_sikka_office(
        &self,
        office: &OfficeId,
    ) -> Result<Option<AccountId>, DirectoryError> {
        Ok(self.current().by_office.get(office).cloned())
    }

    async fn sikka_bindings(&self) -> Result<Vec<(OfficeId, AccountId)>, DirectoryError> {
        let mut bindings: Vec<_> = self
            .current()
            .by_office
            .iter()
            .map(|(office, account)| (office.clone(), account.clone()))
            .collect();
        bindings.sort();
        Ok(bindings)
    }
}

#[async_trait]
impl PracticeDirectory for SsmDirectory {
    async fn by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.current().by_account.get(account).cloned())
    }

    async fn by_phone_number_id(&self, id: &str) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.current().by_phone_number_id.get(id).cloned())
    }

    async fn by_phone_number(
        &self,
        number: &E164,
    ) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.current().by_phone_number.get(number).cloned())
    }

    async fn by_assistant_id(&self, id: &str) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.current().by_assistant_id.get(id).cloned())
    }

    async fn routes_to(&self, account: &AccountId) -> Result<usize, DirectoryError> {
        let s = self.current();
        let ours = |p: &Arc<Practice>| &p.profile.account_id == account;
        Ok(s.by_phone_number_id.values().filter(|p| ours(p)).count()
            + s.by_assistant_id.values().filter(|p| ours(p)).count()
            + s.by_phone_number.values().filter(|p| ours(p)).count())
    }
}
