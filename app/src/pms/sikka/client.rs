//! [`SikkaClient`]: the shared HTTP client and the application's credentials (`App-Id`,
//! `App-Key`), cheap to clone and shared by every practice. It makes the application-level calls
//! (onboarding: [`SikkaClient::authorized_practices`], the request-key and refresh grants) and
//! walks Sikka's pages for everyone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::error::SikkaError;
use super::limiter::Limiter;
use super::transport::{Answer, Auth, Call, RetryPolicy, Transport};
use super::wire::{self, AuthorizedPracticeItem, ListEnvelope, RequestKeyAnswer};
use crate::pms::OfficeId;
use crate::secret::Secret;

pub const DEFAULT_BASE_URL: &str = "https://api.sikkasoft.com/v4";

/// Settings shared by every practice reached through one Sikka application.
#[derive(Debug, Clone)]
pub struct SikkaConfig {
    pub base_url: String,
    pub app_id: String,
    pub app_key: Secret,
    /// Every port call (all its pages, retries and token refreshes) ends within this.
    pub call_timeout: Duration,
    pub retry: RetryPolicy,
    /// Client-side limit per practice (and for the application's own calls).
    pub requests_per_minute: u32,
    /// A request key is renewed this long before it expires.
    pub token_margin: Duration,
    /// How long providers, operatories, the schedule and statuses are cached.
    pub cache_ttl: Duration,
    /// Rows asked for per page (Sikka allows up to 5000).
    pub page_size: u32,
    /// A walk stops after this many pages, whatever `pagination.next` says.
    pub max_pages: u32,
    /// When a request key expires is judged by this clock.
    pub clock: crate::clock::Clock,
}

impl SikkaConfig {
    pub fn new(app_id: impl Into<String>, app_key: Secret) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.into(),
            app_id: app_id.into(),
            app_key,
            call_timeout: crate::config::DEFAULT_TOOL_BUDGET
                .saturating_sub(crate::config::SIKKA_CALL_MARGIN),
            retry: RetryPolicy::default(),
            requests_per_minute: crate::config::DEFAULT_SIKKA_REQUESTS_PER_MINUTE,
            token_margin: Duration::from_secs(5 * 60),
            cache_ttl: Duration::from_secs(10 * 60),
            page_size: 500,
            max_pages: 200,
            clock: crate::clock::Clock::system(),
        }
    }
}

/// A key minted by `POST /request_key`.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub request_key: Secret,
    pub refresh_key: Option<Secret>,
    pub expires_at: jiff::Timestamp,
}

/// An office that authorized the application (`/authorized_practices`).
#[derive(Debug, Clone)]
pub struct AuthorizedPractice {
    pub office_id: OfficeId,
    pub secret_key: Secret,
    pub practice_id: Option<String>,
    pub practice_name: Option<String>,
    /// `practice_management_system`, e.g. `Dentrix`, `Orthotrac`.
    pub pms: Option<String>,
    pub pms_version: Option<String>,
    pub domain: Option<String>,
    pub data_synchronization_date: Option<String>,
}

#[derive(Clone)]
pub struct SikkaClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: SikkaConfig,
    transport: Transport,
    app_limiter: Limiter,
}

impl SikkaClient {
    /// A client with its own connection pool (rustls).
    pub fn new(config: SikkaConfig) -> Result<Self, SikkaError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("parlae-gateway/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| SikkaError::Network(e.without_url().to_string()))?;
        Ok(Self::with_http(config, http))
    }

    /// A client over an existing `reqwest::Client`.
    pub fn with_http(config: SikkaConfig, http: reqwest::Client) -> Self {
        let transport = Transport::new(http, &config.base_url, config.retry.clone(), config.clock);
        let app_limiter = Limiter::new(config.requests_per_minute);
        Self {
            inner: Arc::new(Inner {
                config,
                transport,
                app_limiter,
            }),
        }
    }

    pub fn config(&self) -> &SikkaConfig {
        &self.inner.config
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// The limiter of the application's own calls (not any practice's).
    pub(crate) fn app_limiter(&self) -> &Limiter {
        &self.inner.app_limiter
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.inner.config.call_timeout
    }

    /// Every office that authorized the application, all pages.
    pub async fn authorized_practices(&self) -> Result<Vec<AuthorizedPractice>, SikkaError> {
        let deadline = self.deadline();
        let config = &self.inner.config;
        let auth = Auth::App {
            id: &config.app_id,
            key: &config.app_key,
        };
        let items: Vec<AuthorizedPracticeItem> = self
            .walk(|query| async move {
                let call = Call {
                    method: Method::GET,
                    path: "authorized_practices",
                    query: &query,
                    auth,
                    body: None,
                };
                self.transport()
                    .send(&call, &self.inner.app_limiter, deadline)
                    .await
            })
            .await?;
        Ok(items
            .into_iter()
            .filter_map(|i| {
                let (Some(office), Some(secret)) = (i.office_id, i.secret_key) else {
                    tracing::warn!("authorized practice without office id or secret key: skipped");
                    return None;
                };
                Some(AuthorizedPractice {
                    office_id: OfficeId::new(office),
                    secret_key: Secret::new(secret),
                    practice_id: i.practice_id,
                    practice_name: i.practice_name,
                    pms: i.practice_management_system,
                    pms_version: i.practice_management_system_version,
                    domain: i.domain,
                    data_synchronization_date: i.data_synchronization_date,
                })
            })
            .collect())
    }

    /// `grant_type=request_key`: a new request key (and refresh key) for an office.
    pub async fn request_key(
        &self,
        office_id: &OfficeId,
        secret_key: &Secret,
    ) -> Result<IssuedKey, SikkaError> {
        self.request_key_grant(office_id, secret_key, self.deadline())
            .await
    }

    /// `grant_type=refresh_key`: a new request key from a refresh key.
    pub async fn refresh_key(&self, refresh_key: &Secret) -> Result<IssuedKey, SikkaError> {
        self.refresh_grant(refresh_key, self.deadline()).await
    }

    pub(crate) async fn request_key_grant(
        &self,
        office_id: &OfficeId,
        secret_key: &Secret,
        deadline: Instant,
    ) -> Result<IssuedKey, SikkaError> {
        let config = &self.inner.config;
        let body = serde_json::json!({
            "grant_type": "request_key",
            "office_id": office_id.as_str(),
            "secret_key": secret_key.expose(),
            "app_id": config.app_id,
            "app_key": config.app_key.expose(),
        });
        self.grant(&body, deadline).await
    }

    pub(crate) async fn refresh_grant(
        &self,
        refresh_key: &Secret,
        deadline: Instant,
    ) -> Result<IssuedKey, SikkaError> {
        let config = &self.inner.config;
        let body = serde_json::json!({
            "grant_type": "refresh_key",
            "refresh_key": refresh_key.expose(),
            "app_id": config.app_id,
            "app_key": config.app_key.expose(),
        });
        self.grant(&body, deadline).await
    }

    async fn grant(
        &self,
        body: &serde_json::Value,
        deadline: Instant,
    ) -> Result<IssuedKey, SikkaError> {
        let call = Call {
            method: Method::POST,
            path: "request_key",
            query: &[],
            auth: Auth::None,
            body: Some(body),
        };
        let answer = self
            .transport()
            .send(&call, &self.inner.app_limiter, deadline)
            .await?;
        issued_key(
            &answer.json::<RequestKeyAnswer>()?,
            self.inner.config.clock.now(),
        )
    }

    /// Walks every page (`offset` = page number) of a list, `fetch` sending one page's query.
    /// A 204 ends the walk; so do an empty page, an empty `next`, `total_count` reached, and
    /// `max_pages`.
    pub(crate) async fn walk<T, F, Fut>(&self, mut fetch: F) -> Result<Vec<T>, SikkaError>
    where
        T: DeserializeOwned,
        F: FnMut(Vec<(&'static str, String)>) -> Fut,
        Fut: Future<Output = Result<Answer, SikkaError>>,
    {
        let limit = self.inner.config.page_size.max(1);
        let mut rows: Vec<T> = Vec::new();
        for page in 0..self.inner.config.max_pages.max(1) {
            let query = vec![("offset", page.to_string()), ("limit", limit.to_string())];
            let answer = fetch(query).await?;
            if answer.is_empty() {
                break;
            }
            let envelope: ListEnvelope<T> = answer.json()?;
            let seen = envelope.items.len() as u64;
            let more = envelope.has_next(rows.len() as u64 + seen);
            rows.extend(envelope.items);
            if !more {
                break;
            }
        }
        Ok(rows)
    }
}

/// The key, refresh key and expiry of a grant's answer: `expires_in` (`"85603 second(s)"`),
/// else `end_time - start_time` (both zone-less, so their difference is exact), else 24 hours.
pub(crate) fn issued_key(
    answer: &RequestKeyAnswer,
    now: jiff::Timestamp,
) -> Result<IssuedKey, SikkaError> {
    let request_key = answer
        .request_key
        .clone()
        .ok_or_else(|| SikkaError::Protocol("grant without request_key".into()))?;
    let lifetime = answer
        .expires_in
        .as_deref()
        .and_then(wire::parse_expires_in)
        .or_else(|| {
            let start = wire::parse_date_time(answer.start_time.as_deref()?)?;
            let end = wire::parse_date_time(answer.end_time.as_deref()?)?;
            u64::try_from(start.duration_until(end).as_secs()).ok()
        })
        .unwrap_or(24 * 3600);
    let expires_at = now
        .checked_add(Duration::from_secs(lifetime))
        .unwrap_or(jiff::Timestamp::MAX);
    Ok(IssuedKey {
        request_key: Secret::new(request_key),
        refresh_key: answer.refresh_key.clone().map(Secret::new),
        expires_at,
    })
}
