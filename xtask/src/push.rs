//! `cargo xtask push --registry URL [--repository NAME] [--tag TAG]`: pushes the image
//! `cargo xtask image` wrote (`target/image/oci`) over the OCI distribution API: each blob that
//! the registry lacks (`HEAD`) is uploaded (`POST` an upload, then `PUT` it with its digest,
//! monolithic), then the manifest is `PUT` under the tag and the registry's digest checked.
//!
//! `--registry` is a host (`127.0.0.1:5000`, `123456789012.dkr.ecr.us-east-1.amazonaws.com`) or
//! a URL; without a scheme, loopback registries are spoken to over plain http, all others over
//! https. For ECR hosts (`<account>.dkr.ecr.<region>.amazonaws.com`) the credentials come from
//! ECR's `GetAuthorizationToken` (the standard AWS credential chain; the region from the host)
//! and are sent as basic auth; other registries are used anonymously. `--auth ecr` forces ECR's token for any host (a VPC endpoint's name; the region then comes from
//! the AWS configuration), `--auth none` never asks for one. `--layout` pushes another OCI
//! layout than `target/image/oci`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use oci_spec::image::Digest;
use reqwest::{StatusCode, Url, header};

use crate::image::{self, layout::Image};

#[derive(clap::Args)]
pub struct Args {
    /// The registry: a host[:port] or a URL (http:// for loopback when no scheme is given).
    #[arg(long)]
    registry: String,
    /// The repository inside the registry.
    #[arg(long, default_value = "gateway")]
    repository: String,
    /// The tag; the image's name in the layout (`sha-<12 hex digits of its digest>`) by default.
    #[arg(long)]
    tag: Option<String>,
    /// How to authenticate: ECR's token for ECR hosts and none elsewhere (auto), always ECR's
    /// token, or never.
    #[arg(long, value_enum, default_value_t = Auth::Auto)]
    auth: Auth,
    /// The OCI layout to push (the one `cargo xtask image` writes by default).
    #[arg(long)]
    layout: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Auth {
    Auto,
    Ecr,
    None,
}

pub fn push(args: &Args) -> Result<()> {
    let image = Image::read(&args.layout.clone().unwrap_or_else(image::layout_dir))?;
    let tag = match (&args.tag, &image.ref_name) {
        (Some(tag), _) | (None, Some(tag)) => tag.clone(),
        (None, None) => bail!("the layout names no tag: pass --tag"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pushed = runtime.block_on(push_image(
        &image,
        &args.registry,
        &args.repository,
        &tag,
        args.auth,
    ))?;
    println!("{pushed}");
    Ok(())
}

/// Pushes `image` to `repository` in `registry` under `tag`; returns
/// `host[:port]/repository@digest`, the reference a deploy names.
pub async fn push_image(
    image: &Image,
    registry: &str,
    repository: &str,
    tag: &str,
    auth: Auth,
) -> Result<String> {
    let base = registry_url(registry)?;
    let ecr = ecr_region(&base);
    let auth = match (auth, ecr) {
        (Auth::None, _) | (Auth::Auto, None) => None,
        (Auth::Auto | Auth::Ecr, ecr) => Some(ecr_authorization(ecr).await?),
    };
    let registry = Registry {
        http: reqwest::Client::new(),
        base,
        repository: repository.to_owned(),
        auth,
    };
    let blobs = std::iter::once(image.manifest.config()).chain(image.manifest.layers());
    for descriptor in blobs {
        let digest = descriptor.digest();
        if registry.has_blob(digest).await? {
            eprintln!("  {digest}: already in the registry");
            continue;
        }
        let bytes = image.blob(digest)?;
        eprintln!("  {digest}: uploading {} bytes", bytes.len());
        registry.upload_blob(digest, bytes).await?;
    }
    let pushed = registry.put_manifest(tag, &image.manifest_bytes).await?;
    if pushed != image.digest.to_string() {
        bail!(
            "the registry stored the manifest as {pushed}, not {}",
            image.digest
        );
    }
    let host = registry.base.host_str().unwrap_or_default();
    let port = registry
        .base
        .port()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    eprintln!("pushed {host}{port}/{repository}:{tag}");
    Ok(format!("{host}{port}/{repository}@{}", image.digest))
}

/// The registry's base URL: `registry` as given when it has a scheme, else http:// for a
/// loopback host and https:// for any other.
pub fn registry_url(registry: &str) -> Result<Url> {
    let with_scheme = if registry.contains("://") {
        registry.to_owned()
    } else {
        let host = Url::parse(&format!("http://{registry}"))
            .with_context(|| format!("--registry {registry:?} is not a host[:port] or a URL"))?;
        let loopback = match host.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        format!("{}://{registry}", if loopback { "http" } else { "https" })
    };
    Url::parse(&with_scheme).with_context(|| format!("--registry {registry:?} is not a URL"))
}

/// The region of an ECR registry host (`<account>.dkr.ecr.<region>.amazonaws.com[.cn]`).
pub fn ecr_region(base: &Url) -> Option<String> {
    let host = base.host_str()?;
    let parts: Vec<&str> = host.split('.').collect();
    match parts.as_slice() {
        [account, "dkr", "ecr", region, "amazonaws", "com", ..]
            if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((*region).to_owned())
        }
        _ => None,
    }
}

/// `Authorization: Basic …` from ECR's GetAuthorizationToken (already `user:password` in
/// base64; valid for every registry the caller may use), in the host's region when it is an
/// ECR host, else the configured region. Never printed.
async fn ecr_authorization(region: Option<String>) -> Result<String> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let config = loader.load().await;
    let out = aws_sdk_ecr::Client::new(&config)
        .get_authorization_token()
        .send()
        .await
        .context("ECR GetAuthorizationToken (are AWS credentials configured?)")?;
    let token = out
        .authorization_data()
        .first()
        .and_then(|d| d.authorization_token())
        .context("ECR returned no authorization token")?;
    // Check the shape without keeping the password around in a message.
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .context("ECR's authorization token is not base64")?;
    if !decoded.contains(&b':') {
        bail!("ECR's authorization token is not user:password");
    }
    Ok(format!("Basic {token}"))
}

struct Registry {
    http: reqwest::Client,
    base: Url,
    repository: String,
    auth: Option<String>,
}

impl Registry {
    fn url(&self, path: &str) -> Result<Url> {
        Ok(self.base.join(&format!("/v2/{}/{path}", self.repository))?)
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match &self.auth {
            Some(auth) => request.header(header::AUTHORIZATION, auth),
            None => request,
        }
    }

    async fn has_blob(&self, digest: &Digest) -> Result<bool> {
        let url = self.url(&format!("blobs/{digest}"))?;
        let response = self
            .request(reqwest::Method::HEAD, url.clone())
            .send()
            .await?;
        match response.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            status => Err(failure("HEAD", &url, status, String::new())),
        }
    }

    async fn upload_blob(&self, digest: &Digest, bytes: Vec<u8>) -> Result<()> {
        let start = self.url("blobs/uploads/")?;
        let response = self
            .request(reqwest::Method::POST, start.clone())
            .header(header::CONTENT_LENGTH, 0)
            .send()
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            let status = response.status();
            return Err(failure("POST", &start, status, response.text().await?));
        }
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .context("the registry started an upload without a Location")?;
        let mut put = self.base.join(location)?;
        put.query_pairs_mut().append_pair("digest", digest.as_ref());
        let response = self
            .request(reqwest::Method::PUT, put.clone())
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            let status = response.status();
            return Err(failure("PUT", &put, status, response.text().await?));
        }
        Ok(())
    }

    /// PUTs the manifest under `tag`; returns the digest the registry gives it.
    async fn put_manifest(&self, tag: &str, manifest: &[u8]) -> Result<String> {
        let url = self.url(&format!("manifests/{tag}"))?;
        let response = self
            .request(reqwest::Method::PUT, url.clone())
            .header(
                header::CONTENT_TYPE,
                "application/vnd.oci.image.manifest.v1+json",
            )
            .body(manifest.to_vec())
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            let status = response.status();
            return Err(failure("PUT", &url, status, response.text().await?));
        }
        response
            .headers()
            .get("docker-content-digest")
            .and_then(|d| d.to_str().ok())
            .map(str::to_owned)
            .context("the registry answered the manifest PUT without Docker-Content-Digest")
    }
}

fn failure(method: &str, url: &Url, status: StatusCode, body: String) -> anyhow::Error {
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            " (the registry wants credentials: push supports ECR and anonymous registries)"
        }
        _ => "",
    };
    anyhow::anyhow!("{method} {url}: {status}{hint} {}", body.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http_and_others_https() {
        let url = |r: &str| registry_url(r).unwrap().to_string();
        assert_eq!(url("127.0.0.1:5000"), "http://127.0.0.1:5000/");
        assert_eq!(url("localhost:5000"), "http://localhost:5000/");
        assert_eq!(url("[::1]:5000"), "http://[::1]:5000/");
        assert_eq!(url("registry.example.com"), "https://registry.example.com/");
        assert_eq!(url("http://10.0.0.5:5000"), "http://10.0.0.5:5000/");
    }

    #[test]
    fn ecr_hosts_are_recognised_with_their_region() {
        let region = |r: &str| ecr_region(&registry_url(r).unwrap());
        assert_eq!(
            region("123456789012.dkr.ecr.eu-west-3.amazonaws.com").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(region("127.0.0.1:5000"), None);
        assert_eq!(region("ghcr.io"), None);
        assert_eq!(region("dkr.ecr.us-east-1.amazonaws.com"), None);
    }
}
