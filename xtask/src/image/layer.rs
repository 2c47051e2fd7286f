//! The image's only layer: a root filesystem written as a tar, byte for byte the same for the
//! same inputs (entries sorted by path, every mtime the one given, fixed owners and modes, no
//! user or group names), so the image's digest depends on the sources alone.
//!
//! What is in it: the static gateway binary, the CA roots the TLS stack reads (rustls through
//! `rustls-native-certs`/`rustls-platform-verifier` reads the system's bundle; it embeds none),
//! `/etc/passwd` and `/etc/group` with the non-root user the gateway runs as, an
//! `/etc/nsswitch.conf` for the static glibc resolver (hosts from files, then DNS), an empty
//! `/tmp`, and the audit spool's directory owned by that user. No time-zone data: the gateway
//! embeds it (`jiff` with `tzdb-bundle-always`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

/// The user (and group) id the gateway runs as: 65532, the distroless images' "nonroot".
pub const UID: u64 = 65532;
/// Where the binary is, the image's entrypoint.
pub const BINARY: &str = "/usr/local/bin/gateway";
/// The audit spool's directory (`AUDIT_DIR`), writable by [`UID`] only.
pub const AUDIT_DIR: &str = "/var/lib/gateway/audit";
/// The CA bundle, at the path rustls' native-certs probe looks first on Debian-like systems.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
                      gateway:x:65532:65532:gateway:/nonexistent:/sbin/nologin\n";
const GROUP: &str = "root:x:0:\ngateway:x:65532:\n";
const NSSWITCH: &str = "hosts: files dns\n";

/// One entry of the layer: a directory, or a regular file with its bytes.
enum Entry {
    Dir { mode: u32, owner: u64 },
    File { mode: u32, data: Vec<u8> },
}

/// The inputs: the binary's and the CA bundle's bytes, and the mtime every entry carries.
pub struct Inputs {
    pub binary: Vec<u8>,
    pub ca_bundle: Vec<u8>,
    pub mtime: u64,
}

/// The layer as an uncompressed tar.
pub fn tar(inputs: Inputs) -> Result<Vec<u8>> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut file = |path: &str, mode: u32, data: Vec<u8>| {
        entries.insert(
            path.trim_start_matches('/').to_owned(),
            Entry::File { mode, data },
        );
    };
    file(BINARY, 0o755, inputs.binary);
    file(CA_BUNDLE, 0o644, inputs.ca_bundle);
    file("/etc/passwd", 0o644, PASSWD.into());
    file("/etc/group", 0o644, GROUP.into());
    file("/etc/nsswitch.conf", 0o644, NSSWITCH.into());
    // Every parent directory, root-owned, then the ones with their own owner or mode.
    let parents: Vec<String> = entries
        .keys()
        .flat_map(|path| {
            let parts: Vec<&str> = path.split('/').collect();
            (1..parts.len())
                .map(|n| parts[..n].join("/"))
                .collect::<Vec<_>>()
        })
        .chain(["var/lib/gateway".to_owned()])
        .collect();
    for dir in parents {
        entries.insert(
            dir,
            Entry::Dir {
                mode: 0o755,
                owner: 0,
            },
        );
    }
    entries.insert(
        "tmp".into(),
        Entry::Dir {
            mode: 0o1777,
            owner: 0,
        },
    );
    entries.insert(
        AUDIT_DIR.trim_start_matches('/').into(),
        Entry::Dir {
            mode: 0o700,
            owner: UID,
        },
    );

    let mut builder = tar::Builder::new(Vec::new());
    for (path, entry) in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_mtime(inputs.mtime);
        match entry {
            Entry::Dir { mode, owner } => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_uid(*owner);
                header.set_gid(*owner);
                header.set_size(0);
                header.set_cksum();
                builder
                    .append_data(&mut header, format!("{path}/"), std::io::empty())
                    .with_context(|| format!("adding {path}/ to the layer"))?;
            }
            Entry::File { mode, data } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_uid(0);
                header.set_gid(0);
                header.set_size(data.len() as u64);
                header.set_cksum();
                builder
                    .append_data(&mut header, path, data.as_slice())
                    .with_context(|| format!("adding {path} to the layer"))?;
            }
        }
    }
    Ok(builder.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            binary: b"\x7fELF binary".to_vec(),
            ca_bundle: b"-----BEGIN CERTIFICATE-----".to_vec(),
            mtime: 0,
        }
    }

    #[test]
    fn the_layer_is_the_same_bytes_every_time() {
        assert_eq!(tar(inputs()).unwrap(), tar(inputs()).unwrap());
    }

    #[test]
    fn the_audit_dir_belongs_to_the_gateway_user_and_everything_else_to_root() {
        let bytes = tar(inputs()).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header();
            let owner = header.uid().unwrap();
            if path == "var/lib/gateway/audit/" {
                assert_eq!((owner, header.mode().unwrap()), (UID, 0o700));
            } else {
                assert_eq!(owner, 0, "{path} is owned by root");
            }
            assert_eq!(header.mtime().unwrap(), 0);
            seen.push(path);
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "entries are sorted");
        for needed in [
            "usr/local/bin/gateway",
            "etc/ssl/certs/ca-certificates.crt",
            "etc/passwd",
            "var/lib/gateway/audit/",
            "tmp/",
        ] {
            assert!(seen.iter().any(|p| p == needed), "{needed} in {seen:?}");
        }
    }
}
