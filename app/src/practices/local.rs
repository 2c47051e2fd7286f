//! The local practices store: practice profiles and their route table (Vapi phone-number ids
//! and practice numbers → account) from a JSON file, or the embedded demo practice when no file
//! is given. Every practice here is served by the sandbox PMS.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use serde::Deserialize;

use super::{BookingPolicy, DirectoryError, Practice, PracticeDirectory, PracticeProfile};
use crate::pms::{
    AccountId, E164,
    sandbox::{SandboxConfig, SandboxPractice, SeedPatient},
};

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
    #[serde(default)]
    pub phone_number_ids: Vec<String>,
    #[serde(default)]
    pub phone_numbers: Vec<E164>,
    pub pms: PmsBinding,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PmsBinding {
    Sandbox,
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
    #[error("practice {account}: {what} is claimed by two practices")]
    Duplicate { account: String, what: String },
}

pub struct LocalDirectory {
    by_account: HashMap<AccountId, Arc<Practice>>,
    by_phone_number_id: HashMap<String, Arc<Practice>>,
    by_phone_number: HashMap<E164, Arc<Practice>>,
}

impl LocalDirectory {
    /// Loads `file`, or the embedded demo practice when `None`.
    pub fn load(
        file: Option<&Path>,
        write_delay: Duration,
        extra_patients: Vec<SeedPatient>,
    ) -> Result<Self, LocalStoreError> {
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
        };
        for entry in parsed.practices {
            directory.add(entry, write_delay, extra_patients.clone())?;
        }
        Ok(directory)
    }

    fn add(
        &mut self,
        entry: PracticeEntry,
        write_delay: Duration,
        extra_patients: Vec<SeedPatient>,
    ) -> Result<(), LocalStoreError> {
        let account = entry.account_id.to_string();
        let time_zone =
            jiff::tz::TimeZone::get(&entry.time_zone).map_err(|_| LocalStoreError::TimeZone {
                account: account.clone(),
                zone: entry.time_zone.clone(),
            })?;
        let today = time_zone.to_datetime(jiff::Timestamp::now()).date();
        let pms = match entry.pms {
            PmsBinding::Sandbox => Arc::new(
                SandboxPractice::new(SandboxConfig {
                    today,
                    write_delay,
                    extra_patients,
                })
                .map_err(|_| LocalStoreError::ExtraPatients)?,
            ),
        };
        let practice = Arc::new(Practice {
            profile: PracticeProfile {
                account_id: entry.account_id.clone(),
                name: entry.name,
                time_zone,
                transfer_number: entry.transfer_number,
                booking: BookingPolicy::default(),
            },
            pms,
        });
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

    pub fn practices(&self) -> impl Iterator<Item = &Arc<Practice>> {
        self.by_account.values()
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
}
