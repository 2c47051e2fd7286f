//! The OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) the image is written as,
//! the same layout packed in one tar (what `skopeo` calls an `oci-archive`), and reading a
//! layout back for `cargo xtask push`. The manifest and config are the `oci-spec` types,
//! serialised compactly: their bytes, and so the digests, depend only on their contents.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use oci_spec::image::{
    Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType, OciLayoutBuilder,
    SCHEMA_VERSION, Sha256Digest,
};
use sha2::{Digest as _, Sha256};

/// The annotation naming the image inside a layout (the tag `push` uses by default).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `sha256:<hex>` of `bytes`, as `oci-spec`'s digest.
pub fn sha256(bytes: &[u8]) -> Digest {
    let hex = hex::encode(Sha256::digest(bytes));
    hex.parse::<Sha256Digest>().expect("64 hex digits").into()
}

/// A blob's descriptor: its media type, size and digest.
pub fn descriptor(media_type: MediaType, bytes: &[u8]) -> Descriptor {
    Descriptor::new(media_type, bytes.len() as u64, sha256(bytes))
}

fn blob_path(layout: &Path, digest: &Digest) -> PathBuf {
    layout
        .join("blobs")
        .join(digest.algorithm().as_ref())
        .join(digest.digest())
}

/// Writes a fresh layout at `layout` (replacing what was there) holding one image: the
/// manifest's bytes and its blobs, named `ref_name`. Returns the manifest's descriptor.
pub fn write(
    layout: &Path,
    manifest: &[u8],
    blobs: &[&[u8]],
    ref_name: &str,
) -> Result<Descriptor> {
    if layout.exists() {
        fs::remove_dir_all(layout).with_context(|| format!("removing {}", layout.display()))?;
    }
    fs::create_dir_all(layout.join("blobs/sha256"))?;
    for blob in blobs.iter().chain([&manifest]) {
        fs::write(blob_path(layout, &sha256(blob)), blob)?;
    }
    let mut manifest_descriptor = descriptor(MediaType::ImageManifest, manifest);
    manifest_descriptor.set_annotations(Some([(REF_NAME.into(), ref_name.into())].into()));
    let index = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(vec![manifest_descriptor.clone()])
        .build()?;
    fs::write(layout.join("index.json"), index.to_string()?)?;
    let oci_layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    fs::write(
        layout.join("oci-layout"),
        serde_json::to_string(&oci_layout)?,
    )?;
    Ok(manifest_descriptor)
}

/// Packs the layout directory into one tar at `archive`, deterministically (sorted entries,
/// `mtime` everywhere, root-owned).
pub fn archive(layout: &Path, archive: &Path, mtime: u64) -> Result<()> {
    let mut files = Vec::new();
    collect(layout, layout, &mut files)?;
    files.sort();
    let mut builder = tar::Builder::new(fs::File::create(archive)?);
    for relative in files {
        let path = layout.join(&relative);
        let mut header = tar::Header::new_ustar();
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        if path.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_cksum();
            builder.append_data(&mut header, format!("{relative}/"), std::io::empty())?;
        } else {
            let data = fs::read(&path)?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(0o644);
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append_data(&mut header, &relative, data.as_slice())?;
        }
    }
    builder.into_inner()?;
    Ok(())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let relative = path
            .strip_prefix(root)?
            .to_str()
            .context("a non-UTF-8 path in the layout")?
            .to_owned();
        if path.is_dir() {
            out.push(relative);
            collect(root, &path, out)?;
        } else {
            out.push(relative);
        }
    }
    Ok(())
}

/// An image read back from a layout: the manifest's bytes and parsed form, and its name.
pub struct Image {
    pub layout: PathBuf,
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub digest: Digest,
    pub ref_name: Option<String>,
}

impl Image {
    /// Reads the layout's only image, checking the manifest's digest.
    pub fn read(layout: &Path) -> Result<Self> {
        let index_path = layout.join("index.json");
        let index = ImageIndex::from_file(&index_path).with_context(|| {
            format!(
                "reading {} (run `cargo xtask image` first)",
                index_path.display()
            )
        })?;
        let [descriptor] = index.manifests().as_slice() else {
            bail!(
                "{} names {} images, not one",
                index_path.display(),
                index.manifests().len()
            );
        };
        let digest = descriptor.digest().clone();
        let manifest_bytes = fs::read(blob_path(layout, &digest))?;
        if sha256(&manifest_bytes) != digest {
            bail!("the manifest blob does not match its digest {digest}");
        }
        let manifest = ImageManifest::from_reader(manifest_bytes.as_slice())?;
        let ref_name = descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME).cloned());
        Ok(Self {
            layout: layout.to_owned(),
            manifest_bytes,
            manifest,
            digest,
            ref_name,
        })
    }

    /// A blob's bytes, checked against its digest.
    pub fn blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = blob_path(&self.layout, digest);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        if sha256(&bytes) != *digest {
            bail!("{} does not match its digest", path.display());
        }
        Ok(bytes)
    }
}
