//! One Sikka exchange under a deadline: the client-side limiter, a per-attempt timeout, the
//! answer classified into [`SikkaError`], and retries. Reads (GET) are retried on 5xx, timeouts
//! and network errors with exponential backoff and jitter; writes never are (Sikka may have
//! queued them). A 429 is waited out when `X-Rate-Limit-Reset` ends before the deadline (the
//! request was not processed, so this holds for writes too). Logs carry method, path (ids
//! only, never the query) and status.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::error::SikkaError;
use super::limiter::{Limiter, WouldExceedDeadline};
use super::wire::Message;
use crate::secret::Secret;

/// How reads are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// One attempt of a read gives up after this long (and is retried if time remains).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
        }
    }
}

/// How a call authenticates.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    App { id: &'a str, key: &'a Secret },
    RequestKey(&'a Secret),
}

pub(crate) struct Call<'a> {
    pub method: Method,
    /// Below the base URL, e.g. `appointments/123`.
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    pub auth: Auth<'a>,
    pub body: Option<&'a serde_json::Value>,
}

/// A success: the status (204 = no content) and the raw body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_empty(&self) -> bool {
        self.status == 204 || self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// The body as JSON; the error names the position only, never a value.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SikkaError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            SikkaError::Protocol(format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }
}

pub(crate) struct Transport {
    http: reqwest::Client,
    base_url: String,
    retry: RetryPolicy,
    /// Reads a reset given as a Unix time.
    clock: crate::clock::Clock,
}

/// The longest pause a rate-limit header can impose: a larger value (an epoch time, a typo) is
/// not a reason to stop serving a practice for decades.
const MAX_RESET: Duration = Duration::from_secs(3600);

/// A value this large is a Unix time (2001 or later), not a number of seconds to wait.
const EPOCH_FLOOR: f64 = 1_000_000_000.0;

/// A rate-limit reset header: seconds to wait, or a Unix time to wait until (read against
/// `now`); never more than [`MAX_RESET`], never negative.
pub(super) fn header_secs(
    headers: &HeaderMap,
    name: &str,
    now: jiff::Timestamp,
) -> Option<Duration> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    let mut secs = v
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)?;
    if secs >= EPOCH_FLOOR {
        secs = (secs - now.as_millisecond() as f64 / 1000.0).max(0.0);
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_RESET, |d| d.min(MAX_RESET)))
}

/// A factor in `[0.5, 1.0)` from the standard library's random hasher keys.
fn jitter() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    0.5 + (bits >> 11) as f64 / (1u64 << 53) as f64 / 2.0
}

impl Transport {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        retry: RetryPolicy,
        clock: crate::clock::Clock,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            retry,
            clock,
        }
    }

    pub async fn send(
        &self,
        call: &Call<'_>,
        limiter: &Limiter,
        deadline: Instant,
    ) -> Result<Answer, SikkaError> {
        let is_read = call.method == Method::GET;
        let mut attempt = 0;
        loop {
            attempt += 1;
            limiter
                .acquire(deadline)
                .await
                .map_err(|WouldExceedDeadline(wait)| SikkaError::RateLimited {
                    code: "client limit".into(),
                    daily: false,
                    reset: Some(wait),
                })?;
            let started = Instant::now();
            let outcome = self.attempt(call, is_read, limiter, deadline).await;
            let code = outcome
                .as_ref()
                .map_or_else(SikkaError::metric_code, |_| "ok".into());
            crate::metrics::global().sikka_call(&code, started.elapsed());
            let err = match outcome {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            tracing::debug!(method = %call.method, path = call.path, attempt, error = %err, "sikka call failed");
            let wait = match &err {
                SikkaError::RateLimited {
                    daily: false,
                    reset,
                    ..
                } => {
                    let wait = reset.unwrap_or(Duration::from_secs(1));
                    limiter.pause_for(wait);
                    wait
                }
                e if e.is_retryable() && is_read => {
                    let exp = self
                        .retry
                        .base_backoff
                        .saturating_mul(1 << (attempt - 1).min(16));
                    exp.min(self.retry.max_backoff).mul_f64(jitter())
                }
                _ => return Err(err),
            };
            if attempt >= self.retry.max_attempts || Instant::now() + wait >= deadline {
                return Err(err);
            }
            if !matches!(err, SikkaError::RateLimited { .. }) {
                tokio::time::sleep(wait).await;
            }
        }
    }

    async fn attempt(
        &self,
        call: &Call<'_>,
        is_read: bool,
        limiter: &Limiter,
        deadline: Instant,
    ) -> Result<Answer, SikkaError> {
        let now = Instant::now();
        if now >= deadline {
            return Err(SikkaError::Timeout);
        }
        let mut budget = deadline - now;
        if is_read {
            budget = budget.min(self.retry.attempt_timeout);
        }
        let mut url = reqwest::Url::parse(&format!("{}/{}", self.base_url, call.path))
            .map_err(|e| SikkaError::Protocol(format!("bad base URL: {e}")))?;
        if !call.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(call.query.iter().map(|(k, v)| (*k, v)));
        }
        let mut request = self.http.request(call.method.clone(), url).timeout(budget);
        request = match call.auth {
            Auth::None => request,
            Auth::App { id, key } => request.header("App-Id", id).header("App-Key", key.expose()),
            Auth::RequestKey(key) => request.header("Request-Key", key.expose()),
        };
        if let Some(body) = call.body {
            request = request.json(body);
        }
        let exchange = async {
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        };
        // A write whose request may have gone out is not "failed" when its answer is missing:
        // Sikka may have taken it (only a refused connection proves it was not sent).
        let lost = |connected: bool| !is_read && connected;
        let (status, headers, body) = match tokio::time::timeout(budget, exchange).await {
            Err(_) if lost(true) => return Err(SikkaError::AnswerLost),
            Err(_) => return Err(SikkaError::Timeout),
            Ok(Err(e)) if lost(!e.is_connect()) => return Err(SikkaError::AnswerLost),
            Ok(Err(e)) if e.is_timeout() => return Err(SikkaError::Timeout),
            Ok(Err(e)) => return Err(SikkaError::Network(e.without_url().to_string())),
            Ok(Ok(parts)) => parts,
        };
        tracing::debug!(method = %call.method, path = call.path, status, "sikka answered");
        let now = self.clock.now();
        let reset = header_secs(&headers, "x-rate-limit-reset", now)
            .or_else(|| header_secs(&headers, "retry-after", now));
        let remaining = headers
            .get("x-rate-limit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if remaining == Some(0)
            && let Some(reset) = reset
        {
            limiter.pause_for(reset);
        }
        if (200..300).contains(&status) {
            return Ok(Answer {
                status,
                body: body.to_vec(),
            });
        }
        let message: Option<Message> = serde_json::from_slice(&body).ok();
        Err(match SikkaError::from_answer(status, message.as_ref()) {
            SikkaError::RateLimited {
                code, daily: false, ..
            } => SikkaError::RateLimited {
                code,
                daily: false,
                reset,
            },
            other => other,
        })
    }
}
