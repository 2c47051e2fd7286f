//! Where practices' Sikka credentials are kept: the implementations of the Sikka adapter's
//! [`CredentialStore`] port (Secrets Manager in `aws`, [`LocalCredentialFile`] in `local`,
//! [`MemoryCredentials`] in tests). Every store merges a save into the stored record.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::pms::AccountId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use crate::pms::sikka::{CredentialStore, SikkaCredentials, StoreError};

/// Merges `creds` into a stored JSON record: known fields overwrite, `None` tokens and unknown
/// fields stay as they were. Every store's save goes through it (Secrets Manager's too).
pub(crate) fn merge_record(
    existing: Option<serde_json::Value>,
    creds: &SikkaCredentials,
) -> Result<serde_json::Value, StoreError> {
    let mut record = match existing {
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err(StoreError::Corrupt("record is not an object".into())),
        None => serde_json::Map::new(),
    };
    let fresh = serde_json::to_value(creds).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    if let serde_json::Value::Object(fields) = fresh {
        record.extend(fields);
    }
    Ok(serde_json::Value::Object(record))
}

/// Credentials in memory, for tests and the sandbox; `save` merges like every store.
#[derive(Default)]
pub struct MemoryCredentials {
    records: Mutex<HashMap<AccountId, serde_json::Value>>,
}

impl MemoryCredentials {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(account: AccountId, creds: SikkaCredentials) -> Self {
        let store = Self::new();
        let record = merge_record(None, &creds).expect("credentials serialise");
        store.lock().insert(account, record);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, serde_json::Value>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentials {
    async fn load(&self, account: &AccountId) -> Result<Option<SikkaCredentials>, StoreError> {
        self.lock()
            .get(account)
            .map(|v| {
                serde_json::from_value(v.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    async fn save(&self, account: &AccountId, creds: &SikkaCredentials) -> Result<(), StoreError> {
        let mut records = self.lock();
        let merged = merge_record(records.get(account).cloned(), creds)?;
        records.insert(account.clone(), merged);
        Ok(())
    }
}

/// Credentials in a local JSON file, `{"accounts": {"<account id>": {record}}}`. Every save
/// rewrites the whole file atomically (a temporary file in the same folder, mode 0600, synced,
/// then renamed over the old one); saves within this process are serialised.
pub struct LocalCredentialFile {
    path: PathBuf,
    write_lock: tokio::sync::Mutex<()>,
}

#[derive(Default, Serialize, Deserialize)]
struct FileContents {
    #[serde(default)]
    accounts: serde_json::Map<String, serde_json::Value>,
}

impl LocalCredentialFile {
    /// A store at `path`; the file need not exist yet.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            write_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl CredentialStore for LocalCredentialFile {
    async fn load(&self, account: &AccountId) -> Result<Option<SikkaCredentials>, StoreError> {
        let path = self.path.clone();
        let contents =
            tokio::task::spawn_blocking(move || super::json_file::read::<FileContents>(&path))
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        contents
            .accounts
            .get(account.as_str())
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|e| StoreError::Corrupt(format!("account {account}: {e}")))
            })
            .transpose()
    }

    async fn save(&self, account: &AccountId, creds: &SikkaCredentials) -> Result<(), StoreError> {
        let _guard = self.write_lock.lock().await;
        let (path, account, creds) = (self.path.clone(), account.clone(), creds.clone());
        tokio::task::spawn_blocking(move || {
            let mut contents = super::json_file::read::<FileContents>(&path)?;
            let merged = merge_record(contents.accounts.remove(account.as_str()), &creds)?;
            contents
                .accounts
                .insert(account.as_str().to_owned(), merged);
            super::json_file::write_atomically(&path, &contents)
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pms::OfficeId, secret::Secret};

    fn creds() -> SikkaCredentials {
        SikkaCredentials::new(OfficeId::new("D36225"), Secret::new("canary-secret-key"))
    }

    #[test]
    fn debug_never_prints_secrets() {
        let mut c = creds();
        c.request_key = Some(Secret::new("canary-request-key"));
        c.refresh_key = Some(Secret::new("canary-refresh-key"));
        let shown = format!("{c:?} {}", c.secret_key);
        assert!(!shown.contains("canary"), "{shown}");
        assert!(shown.contains("D36225"));
    }

    #[tokio::test]
    async fn local_file_round_trips_merges_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        std::fs::write(
            &path,
            r#"{"accounts": {"acct-1": {"office_id": "D1", "secret_key": "s1", "refresh_key": "r0", "note": "kept"},
                             "acct-2": {"office_id": "D2", "secret_key": "s2"}}}"#,
        )
        .unwrap();
        let store = LocalCredentialFile::new(&path);
        let account = AccountId::new("acct-1");
        let mut loaded = store.load(&account).await.unwrap().unwrap();
        assert_eq!(loaded.office_id.as_str(), "D1");
        assert_eq!(loaded.refresh_key.as_ref().unwrap().expose(), "r0");

        loaded.request_key = Some(Secret::new("k1"));
        loaded.refresh_key = None;
        loaded.expires_at = Some("2030-01-01T00:00:00Z".parse().unwrap());
        store.save(&account, &loaded).await.unwrap();

        let again = store.load(&account).await.unwrap().unwrap();
        assert_eq!(again.request_key.unwrap().expose(), "k1");
        assert_eq!(
            again.refresh_key.unwrap().expose(),
            "r0",
            "None keeps the stored token"
        );
        assert_eq!(again.expires_at, loaded.expires_at);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(raw["accounts"]["acct-1"]["note"], "kept");
        assert_eq!(raw["accounts"]["acct-2"]["office_id"], "D2");
        assert!(
            store
                .load(&AccountId::new("nobody"))
                .await
                .unwrap()
                .is_none()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left behind");
    }

    #[tokio::test]
    async fn missing_file_is_empty_and_first_save_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalCredentialFile::new(dir.path().join("new.json"));
        let account = AccountId::new("a");
        assert!(store.load(&account).await.unwrap().is_none());
        store.save(&account, &creds()).await.unwrap();
        assert_eq!(store.load(&account).await.unwrap().unwrap(), creds());
    }

    #[tokio::test]
    async fn corrupt_file_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, "not json").unwrap();
        let store = LocalCredentialFile::new(&path);
        let account = AccountId::new("a");
        assert!(matches!(
            store.load(&account).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(store.save(&account, &creds()).await.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not json");
    }

    #[tokio::test]
    async fn memory_store_merges_like_the_file() {
        let account = AccountId::new("a");
        let mut c = creds();
        c.refresh_key = Some(Secret::new("r"));
        let store = MemoryCredentials::with(account.clone(), c.clone());
        c.refresh_key = None;
        c.request_key = Some(Secret::new("k"));
        store.save(&account, &c).await.unwrap();
        let got = store.load(&account).await.unwrap().unwrap();
        assert_eq!(got.refresh_key.unwrap().expose(), "r");
        assert_eq!(got.request_key.unwrap().expose(), "k");
    }
}
