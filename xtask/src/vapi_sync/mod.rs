//! `cargo xtask vapi-sync --env dev --base-url https://gw.example.com [--check]`: the gateway's
//! Vapi tools (the definitions `gateway vapi-tools` prints, made here in-process from the same
//! OpenAPI document) created or updated in the Vapi organisation through Vapi's API: `GET /tool`
//! lists, `POST /tool` creates what is missing, `PATCH /tool/{id}` updates what differs (matched
//! by `function.name`, compared as [`plan`] explains). Each tool's `server.url` is `--base-url`
//! plus its path. Vapi's tools the gateway does not define are left alone, and so are exported
//! tools of other types than `function` (they have no function name to match by: the report
//! names them as not synced).
//!
//! The API key is the organisation's private key, from `VAPI_API_KEY` (sent as a bearer token,
//! never printed). `--env` names the deployment the tools are for: `dev` and `prod` take only an
//! `https` base URL (Vapi calls them over the internet), `local` any http(s) one; each
//! environment is meant to have its own Vapi organisation, hence its own key. `--check` changes
//! nothing and fails when Vapi differs from the spec (for CI or before a deploy).

mod plan;

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::deploy::Env;
use plan::Action;

/// The variable the organisation's private API key is read from.
pub const API_KEY_VAR: &str = "VAPI_API_KEY";
/// `GET /tool` answers at most this many tools (Vapi's maximum `limit`).
const LIST_LIMIT: usize = 1000;

#[derive(clap::Args)]
pub struct Args {
    /// The deployment the tools are for (dev and prod take only an https --base-url).
    #[arg(long, value_enum)]
    env: Env,
    /// The gateway's public URL, which Vapi calls: each tool's server.url is this plus its path.
    #[arg(long)]
    base_url: String,
    /// Vapi's API.
    #[arg(long, default_value = "https://api.vapi.ai")]
    api_url: String,
    /// Vapi's timeout for each tool call, in seconds.
    #[arg(long, default_value_t = 20)]
    timeout_seconds: u32,
    /// The Vapi credential id that signs or authenticates the tool requests.
    #[arg(long)]
    credential_id: Option<String>,
    /// Change nothing: exit non-zero when Vapi differs from the spec.
    #[arg(long)]
    check: bool,
}

pub fn vapi_sync(args: &Args) -> Result<()> {
    let key = match std::env::var(API_KEY_VAR) {
        Ok(key) if !key.trim().is_empty() => key.trim().to_owned(),
        _ => bail!(
            "{API_KEY_VAR} is not set: export the Vapi organisation's private API key for {} \
             (Vapi dashboard → Organization → API Keys)",
            args.env.name()
        ),
    };
    check_base_url(args.env, &args.base_url)?;
    let api = Url::parse(&format!("{}/", args.api_url.trim_end_matches('/')))
        .with_context(|| format!("--api-url {:?} is not a URL", args.api_url))?;
    let spec = spec_tools(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sync(args, &Vapi::new(api, key)?, &spec))
}

/// `https` (or, for `--env local`, `http` too) with a host.
fn check_base_url(env: Env, base_url: &str) -> Result<()> {
    let url = Url::parse(base_url)
        .with_context(|| format!("--base-url {base_url:?} is not a URL (https://host[/path])"))?;
    let allowed = match env {
        Env::Local => matches!(url.scheme(), "http" | "https"),
        Env::Dev | Env::Prod => url.scheme() == "https",
    };
    if !allowed || url.host_str().is_none() {
        bail!(
            "--base-url {base_url:?}: {} needs an {} URL with a host, the gateway's public address",
            env.name(),
            if env == Env::Local {
                "http(s)"
            } else {
                "https"
            }
        );
    }
    Ok(())
}

/// The gateway's tool definitions for this deployment.
fn spec_tools(args: &Args) -> Result<Vec<Value>> {
    let doc: Value = serde_json::from_str(&gateway::api::spec()).context("the OpenAPI document")?;
    let options = gateway::vapi::tooldefs::ExportOptions {
        base_url: args.base_url.clone(),
        timeout_seconds: args.timeout_seconds,
        credential_id: args.credential_id.clone(),
    };
    Ok(gateway::vapi::tooldefs::export(&doc, &options)?)
}

async fn sync(args: &Args, vapi: &Vapi, spec: &[Value]) -> Result<()> {
    let existing = vapi.list().await?;
    let actions = plan::plan(spec, &existing)?;
    println!(
        "Vapi tools for {} (server {}):",
        args.env.name(),
        args.base_url.trim_end_matches('/')
    );
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    for action in &actions {
        let verb = if args.check { "would be " } else { "" };
        match action {
            Action::Create { name, body } => {
                if !args.check {
                    vapi.send(Method::POST, "tool", body, name).await?;
                }
                created += 1;
                println!("  {name}: {verb}created");
            }
            Action::Update {
                name,
                id,
                fields,
                body,
            } => {
                if !args.check {
                    vapi.send(Method::PATCH, &format!("tool/{id}"), body, name)
                        .await?;
                }
                updated += 1;
                println!("  {name}: {verb}updated ({})", fields.join(", "));
            }
            Action::Unchanged { name } => {
                unchanged += 1;
                println!("  {name}: unchanged");
            }
            Action::Skipped { kind } => {
                println!("  a {kind} tool: not synced (no function name to match it by)");
            }
        }
    }
    if args.check {
        println!("{created} to create, {updated} to update, {unchanged} unchanged");
    } else {
        println!("{created} created, {updated} updated, {unchanged} unchanged");
    }
    if args.check && created + updated > 0 {
        bail!(
            "Vapi's tools differ from the spec ({created} missing, {updated} different): run \
             `cargo xtask vapi-sync --env {} --base-url {}` to apply",
            args.env.name(),
            args.base_url
        );
    }
    Ok(())
}

/// Vapi's API with the organisation's key.
struct Vapi {
    http: reqwest::Client,
    api: Url,
    key: String,
}

impl Vapi {
    fn new(api: Url, key: String) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { http, api, key })
    }

    /// Every tool of the organisation (`GET /tool?limit=1000`).
    async fn list(&self) -> Result<Vec<Value>> {
        let url = self.api.join(&format!("tool?limit={LIST_LIMIT}"))?;
        let answer = self.request(Method::GET, url, None, "GET /tool").await?;
        let Value::Array(tools) = answer else {
            bail!("GET /tool: Vapi's answer is not a list of tools");
        };
        if tools.len() >= LIST_LIMIT {
            bail!("GET /tool: the organisation has {LIST_LIMIT} tools or more, more than one page");
        }
        Ok(tools)
    }

    /// POST or PATCH one tool's body.
    async fn send(&self, method: Method, path: &str, body: &Value, name: &str) -> Result<()> {
        let what = format!("{method} /{path} ({name})");
        let url = self.api.join(path)?;
        self.request(method, url, Some(body), &what).await?;
        Ok(())
    }

    async fn request(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value> {
        let mut request = self.http.request(method, url).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{what}: Vapi's API could not be reached"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            let hint = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    format!(" (check {API_KEY_VAR}: the organisation's private key)")
                }
                _ => String::new(),
            };
            bail!("{what}: Vapi answered {status}{hint}: {}", excerpt(&text));
        }
        serde_json::from_str(&text).with_context(|| format!("{what}: Vapi's answer is not JSON"))
    }
}

/// The start of an error body, on one line.
fn excerpt(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}
