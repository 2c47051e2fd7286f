//! Live call control (VAPI.md §6): a function tool transfers the call by POSTing
//! `{"type": "transfer", "destination": {"type": "number", "number": …}, "content": …}` to the
//! call's `call.monitor.controlUrl`.
//!
//! That URL arrives in the request body, so it is checked before anything is sent: a hostile or
//! mistaken payload must not make the gateway POST to an arbitrary (internal) address. Accepted:
//! `https` to `vapi.ai` or a host under it (Vapi's own control hosts), without user info; and,
//! only with `VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK=true` (for tests and local demos), `http` to
//! a loopback IP literal (never a name, which could resolve anywhere). Redirects are not
//! followed, and the request has a short deadline.

use std::time::Duration;

use reqwest::Url;
use serde_json::json;

use crate::pms::E164;

/// The most a transfer request may take, connecting included.
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3);
/// Vapi's domain: control URLs are on it or a host under it.
pub const VAPI_DOMAIN: &str = "vapi.ai";

/// Why a transfer was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The control URL is not one this gateway may call.
    #[error("control URL not allowed: {0}")]
    NotAllowed(&'static str),
    /// No answer (connection refused, timeout, TLS).
    #[error("control endpoint unreachable: {0}")]
    Unreachable(String),
    /// Vapi answered with a status other than 2xx.
    #[error("control endpoint answered HTTP {0}")]
    Refused(u16),
}

/// Sends control messages to live calls.
#[derive(Clone)]
pub struct CallControl {
    http: reqwest::Client,
    allow_http_loopback: bool,
}

impl CallControl {
    pub fn new(allow_http_loopback: bool) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("parlae-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(TRANSFER_TIMEOUT)
            .timeout(TRANSFER_TIMEOUT)
            .build()
            .expect("a reqwest client with rustls builds");
        Self {
            http,
            allow_http_loopback,
        }
    }

    /// The control URL, when it is one this gateway may POST to.
    pub fn allowed(&self, raw: &str) -> Result<Url, ControlError> {
        let url = Url::parse(raw.trim()).map_err(|_| ControlError::NotAllowed("not a URL"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ControlError::NotAllowed("it carries user info"));
        }
        let host = url.host_str().unwrap_or_default();
        // An IP literal (IPv6 in brackets), never resolved.
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .ok();
        match url.scheme() {
            "https" => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                let vapi = ip.is_none()
                    && (host == VAPI_DOMAIN || host.ends_with(&format!(".{VAPI_DOMAIN}")));
                if vapi {
                    Ok(url)
                } else {
                    Err(ControlError::NotAllowed("not a vapi.ai host"))
                }
            }
            "http" if self.allow_http_loopback => {
                if ip.is_some_and(|ip| ip.is_loopback()) {
                    Ok(url)
                } else {
                    Err(ControlError::NotAllowed(
                        "plain http to a non-loopback host",
                    ))
                }
            }
            _ => Err(ControlError::NotAllowed("not https")),
        }
    }

    /// Asks Vapi to transfer the call to `number`, saying `content` to the caller first.
    pub async fn transfer(
        &self,
        control_url: &str,
        number: &E164,
        content: &str,
    ) -> Result<(), ControlError> {
        let url = self.allowed(control_url)?;
        let body = json!({
            "type": "transfer",
            "destination": {"type": "number", "number": number.as_str()},
            "content": content,
        });
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| ControlError::Unreachable(e.without_url().to_string()))?;
        let status = sent.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(ControlError::Refused(status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_vapi_over_https_or_loopback_when_allowed() {
        let strict = CallControl::new(false);
        let loose = CallControl::new(true);
        let vapi =
            "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/abc/control";
        assert!(strict.allowed(vapi).is_ok());
        assert!(strict.allowed("https://VAPI.ai/x").is_ok());
        for bad in [
            "http://phone-call-websocket.vapi.ai/abc/control",
            "https://vapi.ai.evil.example/x",
            "https://evilvapi.ai/x",
            "https://169.254.169.254/latest/meta-data",
            "https://user:pw@api.vapi.ai/x",
            "http://127.0.0.1:9/control",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(strict.allowed(bad).is_err(), "{bad}");
        }
        assert!(loose.allowed("http://127.0.0.1:9/control").is_ok());
        assert!(loose.allowed("http://[::1]:9/control").is_ok());
        for bad in [
            "http://localhost:9/control",
            "http://10.0.0.1/control",
            "http://169.254.169.254/",
        ] {
            assert!(loose.allowed(bad).is_err(), "{bad}");
        }
    }
}
