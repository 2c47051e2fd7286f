//! What an operator does to the practices in SSM (`cargo xtask practice add|show|list|remove`):
//! the same parameters [`super::practices::SsmDirectory`] reads, written only after the entry
//! passes the checks the directory applies, so what the operator adds is what the gateway serves.
//!
//! - **add** checks the entry on its own ([`SsmPracticeEntry::check`]: name, IANA zone, the PMS
//!   binding) and against the others (a practice line, Sikka office, phone-number id or assistant
//!   id another practice holds is refused, naming that practice), then writes the practice first
//!   and its routes after it, so a route never names a practice that is not there yet. An
//!   existing practice is only replaced with `replace`, and its routes the new record no longer
//!   lists are then removed.
//! - **remove** deletes the routes first, then the practice: a call on a half-removed practice
//!   finds no route rather than a route to nothing.
//! - **show** and **list** read the parameters back; an entry the gateway would skip is listed
//!   with why, never hidden.
//!
//! The running gateways pick the change up at their next refresh (`PRACTICES_REFRESH_SECONDS`).

use std::collections::BTreeMap;

use aws_sdk_ssm::{error::DisplayErrorContext, types::ParameterType};
use serde::Serialize;

use super::practices::{SsmPracticeEntry, is_name_part};
use crate::pms::AccountId;

/// The most a Standard-tier parameter holds, in bytes.
const MAX_VALUE_BYTES: usize = 4096;
/// `DeleteParameters` takes at most this many names at once.
const DELETE_BATCH: usize = 10;

/// One practice as an operator sees it: its entry and the routes that lead to it.
#[derive(Debug, Clone, Serialize)]
pub struct PracticeRecord {
    pub account_id: AccountId,
    #[serde(flatten)]
    pub entry: SsmPracticeEntry,
    pub phone_number_ids: Vec<String>,
    pub assistant_ids: Vec<String>,
}

/// A parameter under `practices/` the gateway skips, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    pub parameter: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("practice {0} already exists (use --replace to change it)")]
    Exists(AccountId),
    #[error("there is no practice {0}")]
    NotFound(AccountId),
    #[error(transparent)]
    Ssm(#[from] super::SsmError),
    #[error("writing {name}: {detail}")]
    Write { name: String, detail: String },
}

/// The practices and routes of one environment, for an operator.
pub struct PracticeAdmin {
    client: aws_sdk_ssm::Client,
    practices_path: String,
    routes_path: String,
}

/// Everything under `practices/` and `routes/`, read once.
struct State {
    practices: BTreeMap<AccountId, Result<SsmPracticeEntry, String>>,
    unreadable: Vec<Unreadable>,
    /// (table, id) → account.
    routes: BTreeMap<(Table, String), AccountId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Table {
    Phone,
    Assistant,
}

impl Table {
    fn segment(self) -> &'static str {
        match self {
            Table::Phone => "phone",
            Table::Assistant => "assistant",
        }
    }
}

impl PracticeAdmin {
    /// The practices under `root` (`/parlae/dev`).
    pub fn new(client: aws_sdk_ssm::Client, root: &str) -> Self {
        let root = root.trim_end_matches('/');
        Self {
            client,
            practices_path: format!("{root}/practices"),
            routes_path: format!("{root}/routes"),
        }
    }

    /// Writes `record` (see the module documentation); returns the parameter names written.
    pub async fn add(
        &self,
        record: &PracticeRecord,
        replace: bool,
    ) -> Result<Vec<String>, AdminError> {
        check_ids(record)?;
        record.entry.check().map_err(AdminError::Invalid)?;
        let value = serde_json::to_string(&record.entry).expect("an entry serialises");
        if value.len() > MAX_VALUE_BYTES {
            return Err(AdminError::Invalid(format!(
                "the practice's description is {} bytes; a parameter holds at most {MAX_VALUE_BYTES}",
                value.len()
            )));
        }
        let state = self.state().await?;
        let account = &record.account_id;
        if state.practices.contains_key(account) && !replace {
            return Err(AdminError::Exists(account.clone()));
        }
        conflicts(&state, record)?;
        let practice = self.practice_name(account);
        self.put(&practice, &value, replace).await?;
        let mut written = vec![practice];
        let wanted: Vec<(Table, &String)> = record
            .phone_number_ids
            .iter()
            .map(|id| (Table::Phone, id))
            .chain(record.assistant_ids.iter().map(|id| (Table::Assistant, id)))
            .collect();
        for (table, id) in &wanted {
            let name = self.route_name(*table, id);
            self.put(&name, account.as_str(), true).await?;
            written.push(name);
        }
        let stale: Vec<String> = state
            .routes
            .iter()
            .filter(|((table, id), owner)| {
                *owner == account && !wanted.iter().any(|(t, i)| t == table && *i == id)
            })
            .map(|((table, id), _)| self.route_name(*table, id))
            .collect();
        self.delete(&stale).await?;
        Ok(written)
    }

    /// The practice and its routes, if it exists (an unreadable entry is an error saying why).
    pub async fn show(&self, account: &AccountId) -> Result<PracticeRecord, AdminError> {
        let state = self.state().await?;
        match state.practices.get(account) {
            None => Err(AdminError::NotFound(account.clone())),
            Some(Err(reason)) => Err(AdminError::Invalid(format!(
                "practice {account} is stored but the gateway skips it: {reason}"
            ))),
            Some(Ok(entry)) => Ok(record(&state, account, entry.clone())),
        }
    }

    /// Every practice the gateway would serve, and every entry it would skip.
    pub async fn list(&self) -> Result<(Vec<PracticeRecord>, Vec<Unreadable>), AdminError> {
        let state = self.state().await?;
        let records = state
            .practices
            .iter()
            .filter_map(|(account, entry)| {
                entry
                    .as_ref()
                    .ok()
                    .map(|e| record(&state, account, e.clone()))
            })
            .collect();
        Ok((records, state.unreadable))
    }

    /// Deletes the practice's routes, then the practice; returns the names deleted.
    pub async fn remove(&self, account: &AccountId) -> Result<Vec<String>, AdminError> {
        let state = self.state().await?;
        if !state.practices.contains_key(account) {
            return Err(AdminError::NotFound(account.clone()));
        }
        let mut names: Vec<String> = state
            .routes
            .iter()
            .filter(|(_, owner)| *owner == account)
            .map(|((table, id), _)| self.route_name(*table, id))
            .collect();
        self.delete(&names).await?;
        let practice = self.practice_name(account);
        self.delete(std::slice::from_ref(&practice)).await?;
        names.push(practice);
        Ok(names)
    }

    fn practice_name(&self, account: &AccountId) -> String {
        format!("{}/{account}", self.practices_path)
    }

    fn route_name(&self, table: Table, id: &str) -> String {
        format!("{}/{}/{id}", self.routes_path, table.segment())
    }

    async fn state(&self) -> Result<State, AdminError> {
        let mut state = State {
            practices: BTreeMap::new(),
            unreadable: Vec::new(),
            routes: BTreeMap::new(),
        };
        for p in super::parameters_under(&self.client, &self.practices_path).await? {
            let (Some(name), Some(value)) = (p.name(), p.value()) else {
                continue;
            };
            match name
                .strip_prefix(&self.practices_path)
                .and_then(|rest| rest.strip_prefix('/'))
                .filter(|id| is_name_part(id))
            {
                Some(id) => {
                    state
                        .practices
                        .insert(AccountId::new(id), SsmPracticeEntry::parse(value));
                }
                None => state.unreadable.push(Unreadable {
                    parameter: name.to_owned(),
                    reason: "not a practice: expected practices/<account_id>".into(),
                }),
            }
        }
        for (account, entry) in &state.practices {
            if let Err(reason) = entry {
                state.unreadable.push(Unreadable {
                    parameter: self.practice_name(account),
                    reason: reason.clone(),
                });
            }
        }
        for p in super::parameters_under(&self.client, &self.routes_path).await? {
            let (Some(name), Some(value)) = (p.name(), p.value()) else {
                continue;
            };
            let route = name
                .strip_prefix(&self.routes_path)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(table, id)| match table {
                    "phone" => Some((Table::Phone, id)),
                    "assistant" => Some((Table::Assistant, id)),
                    _ => None,
                })
                .filter(|(_, id)| is_name_part(id));
            match route {
                Some((table, id)) => {
                    state
                        .routes
                        .insert((table, id.to_owned()), AccountId::new(value.trim()));
                }
                None => state.unreadable.push(Unreadable {
                    parameter: name.to_owned(),
                    reason: "not a route: expected routes/phone/<id> or routes/assistant/<id>"
                        .into(),
                }),
            }
        }
        Ok(state)
    }

    async fn put(&self, name: &str, value: &str, overwrite: bool) -> Result<(), AdminError> {
        self.client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(ParameterType::String)
            .overwrite(overwrite)
            .send()
            .await
            .map(drop)
            .map_err(|e| AdminError::Write {
                name: name.to_owned(),
                detail: DisplayErrorContext(e).to_string(),
            })
    }

    async fn delete(&self, names: &[String]) -> Result<(), AdminError> {
        for batch in names.chunks(DELETE_BATCH) {
            self.client
                .delete_parameters()
                .set_names(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| AdminError::Write {
                    name: batch.join(", "),
                    detail: DisplayErrorContext(e).to_string(),
                })?;
        }
        Ok(())
    }
}

fn check_ids(record: &PracticeRecord) -> Result<(), AdminError> {
    let bad = std::iter::once(("account id", record.account_id.as_str()))
        .chain(
            record
                .phone_number_ids
                .iter()
                .map(|id| ("phone number id", id.as_str())),
        )
        .chain(
            record
                .assistant_ids
                .iter()
                .map(|id| ("assistant id", id.as_str())),
        )
        .find(|(_, id)| !is_name_part(id));
    match bad {
        Some((what, id)) => Err(AdminError::Invalid(format!(
            "{what} {id:?} is not usable in a parameter name: use 1 to 200 letters, digits, '_', '.' or '-'"
        ))),
        None => Ok(()),
    }
}

/// Another practice holding a line, office or route `record` claims.
fn conflicts(state: &State, record: &PracticeRecord) -> Result<(), AdminError> {
    let account = &record.account_id;
    for (other, entry) in &state.practices {
        let Ok(entry) = entry else { continue };
        if other == account {
            continue;
        }
        if let Some(number) = record
            .entry
            .phone_numbers
            .iter()
            .find(|n| entry.phone_numbers.contains(n))
        {
            return Err(AdminError::Conflict(format!(
                "the practice line ending {} is practice {other}'s",
                number.last_four()
            )));
        }
        if let (Some(mine), Some(theirs)) = (record.entry.pms.office(), entry.pms.office())
            && mine == theirs
        {
            return Err(AdminError::Conflict(format!(
                "Sikka office {mine} is practice {other}'s"
            )));
        }
    }
    let claimed = record
        .phone_number_ids
        .iter()
        .map(|id| (Table::Phone, id))
        .chain(record.assistant_ids.iter().map(|id| (Table::Assistant, id)));
    for (table, id) in claimed {
        if let Some(owner) = state.routes.get(&(table, id.clone()))
            && owner != account
        {
            return Err(AdminError::Conflict(format!(
                "the {} route {id} leads to practice {owner}",
                table.segment()
            )));
        }
    }
    Ok(())
}

fn record(state: &State, account: &AccountId, entry: SsmPracticeEntry) -> PracticeRecord {
    let routes = |wanted: Table| -> Vec<String> {
        state
            .routes
            .iter()
            .filter(|((table, _), owner)| *table == wanted && *owner == account)
            .map(|((_, id), _)| id.clone())
            .collect()
    };
    PracticeRecord {
        account_id: account.clone(),
        entry,
        phone_number_ids: routes(Table::Phone),
        assistant_ids: routes(Table::Assistant),
    }
}
