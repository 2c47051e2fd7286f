//! Sikka marketplace registrations: what the purchase and cancel notifications of the
//! marketplace's "registration handshake" told us, one record per registration, kept in a local
//! JSON file next to the credentials file (`{"registrations": {"<key>": {record}}}`, written
//! atomically, mode 0600). A registration is keyed by `PartnerRegistrationID`, else
//! `MasterCustomerID` (Sikka's id for the practice, the same as its `office_id`). Records hold
//! practice contact details (name, e-mail): they are never logged nor audited.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StoreError;

/// One registration as the marketplace described it. Every field is what Sikka sent, verbatim.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_registration_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spu_installation_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practice_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The marketplace's own status word (`Active`, `Cancelled`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketplace_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_service_name: Option<String>,
    /// Fields we do not know, kept as sent.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("master_customer_id", &self.master_customer_id)
            .field("partner_registration_id", &self.partner_registration_id)
            .finish_non_exhaustive()
    }
}

impl Registration {
    /// The registration's key: `PartnerRegistrationID`, else `MasterCustomerID`.
    pub fn key(&self) -> Option<String> {
        let present = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        present(&self.partner_registration_id).or_else(|| present(&self.master_customer_id))
    }
}

/// Where a registration stands here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    Active,
    Cancelled,
}

/// A stored registration: the latest notification's fields and our bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    pub state: RegistrationState,
    pub registration: Registration,
    /// When the purchase (first) and the cancellation reached the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchased_at: Option<jiff::Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<jiff::Timestamp>,
    pub updated_at: jiff::Timestamp,
}

#[derive(Default, Serialize, Deserialize)]
struct FileContents {
    #[serde(default)]
    registrations: BTreeMap<String, RegistrationRecord>,
}

/// The local registrations file. Writes within this process are serialised.
pub struct RegistrationFile {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
    clock: crate::clock::Clock,
}

impl RegistrationFile {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: tokio::sync::Mutex::new(()),
            clock: crate::clock::Clock::system(),
        }
    }

    /// Records are stamped with `clock`'s time.
    pub fn with_clock(self, clock: crate::clock::Clock) -> Self {
        Self { clock, ..self }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a purchase: a new registration, or the same one again (its fields refreshed; a
    /// cancelled registration that is purchased again becomes active).
    pub async fn purchased(
        &self,
        key: &str,
        registration: Registration,
    ) -> Result<RegistrationRecord, StoreError> {
        self.update(key, move |existing, now| {
            let mut record = existing.unwrap_or(RegistrationRecord {
                state: RegistrationState::Active,
                registration: Registration::default(),
                purchased_at: Some(now),
                cancelled_at: None,
                updated_at: now,
            });
            if record.state == RegistrationState::Cancelled {
                record.purchased_at = Some(now);
                record.cancelled_at = None;
            }
            record.state = RegistrationState::Active;
            record.registration = registration;
            record.updated_at = now;
            record
        })
        .await
    }

    /// Records a cancellation; an unknown registration is recorded as cancelled.
    pub async fn cancelled(
        &self,
        key: &str,
        registration: Registration,
    ) -> Result<RegistrationRecord, StoreError> {
        self.update(key, move |existing, now| {
            let mut record = existing.unwrap_or(RegistrationRecord {
                state: RegistrationState::Cancelled,
                registration: Registration::default(),
                purchased_at: None,
                cancelled_at: None,
                updated_at: now,
            });
            if record.state != RegistrationState::Cancelled || record.cancelled_at.is_none() {
                record.cancelled_at = Some(now);
            }
            record.state = RegistrationState::Cancelled;
            // Keep what the purchase said; the cancellation's own fields win where present.
            merge(&mut record.registration, registration);
            record.updated_at = now;
            record
        })
        .await
    }

    pub async fn get(&self, key: &str) -> Result<Option<RegistrationRecord>, StoreError> {
        let path = self.path.clone();
        let contents =
            tokio::task::spawn_blocking(move || super::json_file::read::<FileContents>(&path))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        Ok(contents.registrations.get(key).cloned())
    }

    async fn update(
        &self,
        key: &str,
        f: impl FnOnce(Option<RegistrationRecord>, jiff::Timestamp) -> RegistrationRecord
        + Send
        + 'static,
    ) -> Result<RegistrationRecord, StoreError> {
        let _guard = self.lock.lock().await;
        let (path, key, now) = (self.path.clone(), key.to_owned(), self.clock.now());
        tokio::task::spawn_blocking(move || {
            let mut contents = super::json_file::read::<FileContents>(&path)?;
            let record = f(contents.registrations.remove(&key), now);
            contents.registrations.insert(key, record.clone());
            super::json_file::write_atomically(&path, &contents)?;
            Ok(record)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

fn merge(into: &mut Registration, from: Registration) {
    macro_rules! take {
        ($($f:ident),*) => { $( if from.$f.is_some() { into.$f = from.$f; } )* };
    }
    take!(
        source,
        master_customer_id,
        partner_registration_id,
        spu_installation_key,
        practice_name,
        email_address,
        first_name,
        last_name,
        marketplace_status,
        purchase_date,
        cancel_date,
        order,
        partner_service_name
    );
    into.other.extend(from.other);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(id: &str) -> Registration {
        Registration {
            master_customer_id: Some(id.into()),
            practice_name: Some("Smile Co".into()),
            email_address: Some("owner@example.org".into()),
            ..Registration::default()
        }
    }

    #[tokio::test]
    async fn purchase_then_cancel_then_purchase_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = RegistrationFile::new(dir.path().join("r.json"));
        let r = reg("D100");
        let key = r.key().unwrap();
        assert_eq!(key, "D100");
        let first = store.purchased(&key, r.clone()).await.unwrap();
        assert_eq!(first.state, RegistrationState::Active);
        let again = store.purchased(&key, r.clone()).await.unwrap();
        assert_eq!(
            again.purchased_at, first.purchased_at,
            "a repeat is the same registration"
        );

        let cancel = Registration {
            cancel_date: Some("2025-01-02".into()),
            ..Registration::default()
        };
        let cancelled = store.cancelled(&key, cancel).await.unwrap();
        assert_eq!(cancelled.state, RegistrationState::Cancelled);
        assert_eq!(
            cancelled.registration.practice_name.as_deref(),
            Some("Smile Co")
        );
        assert_eq!(
            cancelled.registration.cancel_date.as_deref(),
            Some("2025-01-02")
        );
        assert_eq!(store.get(&key).await.unwrap().unwrap(), cancelled);

        let back = store.purchased(&key, r).await.unwrap();
        assert_eq!(back.state, RegistrationState::Active);
        assert!(back.cancelled_at.is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_partner_registration_id_is_the_key_when_present() {
        let mut r = reg("D1");
        r.partner_registration_id = Some(" PR-9 ".into());
        assert_eq!(r.key().as_deref(), Some("PR-9"));
        assert_eq!(Registration::default().key(), None);
        assert!(
            !format!("{r:?}").contains("owner@"),
            "contact details are not printed"
        );
    }
}
