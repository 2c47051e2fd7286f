//! The local practices store: practice profiles and their route table (Vapi phone-number ids,
//! assistant ids and practice numbers → account; a practice's own Vapi secret) from a JSON file,
//! or the embedded demo practice when no file is given. Each entry's PMS binding says what holds
//! its records: the sandbox practice, or the practice's system through Sikka.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::Deserialize;

use super::build::{PmsBinding, PracticeParts, build_practice};
use super::{CredentialStore, DirectoryError, Practice, PracticeDirectory};
use crate::pms::{AccountId, E164, OfficeId, sandbox::SeedPatient, sikka::SikkaClient};
use crate::secret::Secret;

/// The embedded demo practice of the local profile.
pub const DEMO_PRACTICES: &str = include_str!("local.json");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalPracticeFile {
    pub practices: Vec<PracticeEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PracticeEntry {
    pub account_id: AccountId,
    pub name: String,
    /// IANA zone name, e.g. `America/Los_Angeles`.
    pub time_zone: String,
    #[serde(default)]
    pub transfer_number: Option<E164>,
    /// Where messages for the front desk are texted.
    #[serde(default)]
    pub staff_sms_number: Option<E164>,
    #[serde(default)]
    pub phone_number_ids: Vec<String>,
    #[serde(default)]
    pub phone_numbers: Vec<E164>,
    /// The practice's saved Vapi assistants: what binds a web call (no phone number) to it.
    #[serde(default)]
    pub assistant_ids: Vec<String>,
    /// The practice's own Vapi credential, when its assistants sign with one: then only this
    /// secret verifies its calls, not the gateway-wide `VAPI_WEBHOOK_SECRET`.
    #[serde(default)]
    pub vapi_secret: Option<Secret>,
    pub pms: PmsBinding,
}

/// What the local store needs to build each practice's system.
pub struct LocalOptions {
    pub write_delay: Duration,
    pub extra_patients: Vec<SeedPatient>,
    /// `None` when the application's Sikka credentials are not configured.
    pub sikka: Option<SikkaClient>,
    pub credentials: Arc<dyn CredentialStore>,
    /// The gateway's clock: the sandbox places its fixture around the practice's today.
    pub clock: crate::clock::Clock,
    /// The sandbox's weekly schedule instead of the fixture's (`SANDBOX_SCHEDULE`).
    pub schedule: Option<crate::pms::sandbox::WeeklySchedule>,
    /// Under which a practice's Sikka key is renewed (one renewal across tasks).
    pub leases: Arc<dyn crate::state::Leases>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalStoreError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a valid practices file: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("practice {account}: unknown time zone {zone:?}")]
    TimeZone { account: String, zone: String },
    #[error("an extra sandbox patient has a phone number that is not a valid US or E.164 number")]
    ExtraPatients,
    #[error("practice {account} is served through Sikka: set SIKKA_APP_ID and SIKKA_APP_KEY")]
    NoSikkaApp { account: String },
    #[error("practice {account}: {what} is claimed by two practices")]
    Duplicate { account: String, what: String },
}

pub struct LocalDirectory {
    by_account: HashMap<AccountId, Arc<Practice>>,
    by_phone_number_id: HashMap<String, Arc<Practice>>,
    by_phone_number: HashMap<E164, Arc<Practice>>,
    by_assistant_id: HashMap<String, Arc<Practice>>,
    by_office: HashMap<OfficeId, AccountId>,
    vapi_secrets: Vec<(AccountId, Secret)>,
}

impl LocalDirectory {
    /// Loads `file`, or the embedded demo practice when `None`.
    pub fn load(file: Option<&Path>, options: &LocalOptions) -> Result<Self, LocalStoreError> {
        let (text, path) = match file {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|source| LocalStoreError::Read {
                    path: path.display().to_string(),
                    source,
                })?,
                path.display().to_string(),
            ),
            None => (
                DEMO_PRACTICES.to_owned(),
                "<embedded demo practice>".to_owned(),
            ),
        };
        let parsed: LocalPracticeFile = serde_json::from_str(&text)
            .map_err(|source| LocalStoreError::Parse { path, source })?;
        let mut directory = Self {
            by_account: HashMap::new(),
            by_phone_number_id: HashMap::new(),
            by_phone_number: HashMap::new(),
            by_assistant_id: HashMap::new(),
            by_office: HashMap::new(),
            vapi_secrets: Vec::new(),
        };
        for entry in parsed.practices {
            directory.add(entry, options)?;
        }
        Ok(directory)
    }

    fn add(&mut self, entry: PracticeEntry, options: &LocalOptions) -> Result<(), LocalStoreError> {
        let account = entry.account_id.to_string();
        let office = entry.pms.office().cloned();
        let practice = Arc::new(build_practice(
            PracticeParts {
                account_id: entry.account_id.clone(),
                name: entry.name,
                time_zone: entry.time_zone,
                transfer_number: entry.transfer_number,
                staff_sms_number: entry.staff_sms_number,
                pms: entry.pms,
            },
            options,
        )?);
        if let Some(office_id) = office
            && self
                .by_office
                .insert(office_id.clone(), entry.account_id.clone())
                .is_some()
        {
            return Err(LocalStoreError::Duplicate {
                account,
                what: format!("office {office_id}"),
            });
        }
        let duplicate = |what: String| LocalStoreError::Duplicate {
            account: account.clone(),
            what,
        };
        if self
            .by_account
            .insert(entry.account_id, practice.clone())
            .is_some()
        {
            return Err(duplicate("the account id".into()));
        }
        for id in entry.phone_number_ids {
            if self
                .by_phone_number_id
                .insert(id.clone(), practice.clone())
                .is_some()
            {
                return Err(duplicate(format!("phone number id {id}")));
            }
        }
        for id in entry.assistant_ids {
            if self
                .by_assistant_id
                .insert(id.clone(), practice.clone())
                .is_some()
            {
                return Err(duplicate(format!("assistant id {id}")));
            }
        }
        if let Some(secret) = entry.vapi_secret {
            self.vapi_secrets
                .push((practice.profile.account_id.clone(), secret));
        }
        for number in entry.phone_numbers {
            if self
                .by_phone_number
                .insert(number.clone(), practice.clone())
                .is_some()
            {
                return Err(duplicate(format!(
                    "phone number ending {}",
                    number.last_four()
                )));
            }
        }
        Ok(())
    }

    /// The account a Sikka office is mapped to, if any.
    pub fn account_for_office(&self, office: &OfficeId) -> Option<&AccountId> {
        self.by_office.get(office)
    }

    /// Every Sikka office bound to an account here.
    pub fn sikka_offices(&self) -> impl Iterator<Item = (&OfficeId, &AccountId)> {
        self.by_office.iter()
    }

    pub fn practices(&self) -> impl Iterator<Item = &Arc<Practice>> {
        self.by_account.values()
    }

    /// The practices that sign their Vapi requests with their own secret.
    pub fn vapi_secrets(&self) -> &[(AccountId, Secret)] {
        &self.vapi_secrets
    }
}

#[async_trait]
impl PracticeDirectory for LocalDirectory {
    async fn by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.by_account.get(account).cloned())
    }

    async fn by_phone_number_id(&self, id: &str) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.by_phone_number_id.get(id).cloned())
    }

    async fn by_phone_number(
        &self,
        number: &E164,
    ) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.by_phone_number.get(number).cloned())
    }

    async fn by_assistant_id(&self, id: &str) -> Result<Option<Arc<Practice>>, DirectoryError> {
        Ok(self.by_assistant_id.get(id).cloned())
    }

    async fn routes_to(&self, account: &AccountId) -> Result<usize, DirectoryError> {
        let s = self;
        let ours = |p: &Arc<Practice>| &p.profile.account_id == account;
        Ok(s.by_phone_number_id.values().filter(|p| ours(p)).count()
            + s.by_assistant_id.values().filter(|p| ours(p)).count()
            + s.by_phone_number.values().filter(|p| ours(p)).count())
    }
}
