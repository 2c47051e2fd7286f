//! Small JSON files holding secrets (practices' credentials, marketplace registrations): read
//! whole, written atomically (temp file with mode 0600, fsync, rename, directory fsync), so a
//! crash leaves either the old file or the new one, never half of either.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Serialize, de::DeserializeOwned};

use super::credentials::StoreError;

/// The file's contents, or `T::default()` when it does not exist yet.
pub fn read<T: DeserializeOwned + Default>(path: &Path) -> Result<T, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(StoreError::Unavailable(format!("{}: {e}", path.display()))),
    }
}

/// Replaces the file with `contents`, atomically.
pub fn write_atomically<T: Serialize>(path: &Path, contents: &T) -> Result<(), StoreError> {
    let bytes =
        serde_json::to_vec_pretty(contents).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "store".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = (|| {
        std::fs::create_dir_all(&dir)?;
        let mut file = options.open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display())))
}
