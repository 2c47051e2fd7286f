//! Twilio's Messages API, the one call the gateway makes: `POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `MessagingServiceSid` and
//! `Body`, HTTP Basic with the account SID and auth token (reqwest on the tree's rustls; Twilio's
//! SDKs are not Rust and the call is one request). Twilio answers `201` with the message's `sid`,
//! or an error object `{code, message, more_info, status}`; the codes that mean "this number"
//! (21211 invalid, 21610 unsubscribed, 21614 not a mobile, …) are told apart from the rest.

use std::time::Duration;

use serde::Deserialize;

use crate::{config::ConfigError, pms::E164, secret::Secret};

/// Twilio's API root unless `TWILIO_API_BASE_URL` says otherwise (an emulator's, in tests).
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";

/// How long one send may take before it counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The Twilio account texts are sent from (`TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`,
/// `TWILIO_MESSAGING_SERVICE_SID`: all three, or none and texting is off).
#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: String,
    pub auth_token: Secret,
    pub messaging_service_sid: String,
    pub api_base_url: String,
}

impl TwilioSettings {
    /// The settings from `get`; `None` when none of the three is set.
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let value = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let names = [
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_MESSAGING_SERVICE_SID",
        ];
        let [sid, token, service] = names.map(value);
        let (sid, token, service) = match (sid, token, service) {
            (None, None, None) => return Ok(None),
            (Some(sid), Some(token), Some(service)) => (sid, token, service),
            (sid, token, service) => {
                let missing: Vec<_> = [sid.is_none(), token.is_none(), service.is_none()]
                    .iter()
                    .zip(names)
                    .filter_map(|(missing, name)| missing.then_some(name))
                    .collect();
                return Err(ConfigError {
                    variable: missing[0],
                    value: String::new(),
                    expected: "set together with the other Twilio settings (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID), or none of them to turn texting off",
                });
            }
        };
        let shaped = |name: &'static str, value: &str, prefix: &str, expected: &'static str| {
            let ok = value.len() == 34
                && value.starts_with(prefix)
                && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if ok {
                Ok(())
            } else {
                Err(ConfigError {
                    variable: name,
                    value: value.to_owned(),
                    expected,
                })
            }
        };
        let account = "a Twilio account SID: AC and 32 hexadecimal digits";
        let messaging = "a Twilio messaging service SID: MG and 32 hexadecimal digits";
        shaped("TWILIO_ACCOUNT_SID", &sid, "AC", account)?;
        shaped("TWILIO_MESSAGING_SERVICE_SID", &service, "MG", messaging)?;
        let api_base_url = value("TWILIO_API_BASE_URL")
            .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        Ok(Some(Self {
            account_sid: sid,
            auth_token: Secret::new(token),
            messaging_service_sid: service,
            api_base_url,
        }))
    }
}

/// Why a text was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// Twilio refused the number itself (invalid, not a mobile, unreachable: `code`). Twilio's
    /// own message is not kept: it may quote the number.
    #[error("Twilio refused the recipient's number (error {code})")]
    Recipient { code: u32 },
    /// The recipient replied STOP to this messaging service (Twilio error 21610).
    #[error("the recipient has opted out of texts (Twilio error 21610)")]
    OptedOut,
    /// Any other refusal (credentials, the service, Twilio's own trouble).
    #[error("Twilio answered HTTP {status} (error {})", code.map_or("none".into(), |c| c.to_string()))]
    Refused { status: u16, code: Option<u32> },
    #[error("Twilio could not be reached: {0}")]
    Unreachable(String),
}

/// The error object Twilio answers with.
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

/// The codes that are about the recipient's number, not the request.
const RECIPIENT_CODES: &[u32] = &[21211, 21212, 21408, 21612, 21614, 21635, 30006];

/// Sends texts through one Twilio account and messaging service.
#[derive(Clone)]
pub struct TwilioClient {
    settings: TwilioSettings,
    http: reqwest::Client,
}

impl TwilioClient {
    pub fn new(settings: TwilioSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .build()
            .expect("an HTTP client with a timeout");
        Self { settings, http }
    }

    pub fn settings(&self) -> &TwilioSettings {
        &self.settings
    }

    /// Sends `body` to `to`; the message's SID when Twilio accepted it.
    pub async fn send(&self, to: &E164, body: &str) -> Result<String, SmsError> {
        let s = &self.settings;
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            s.api_base_url, s.account_sid
        );
        let form = [
            ("To", to.as_str()),
            ("MessagingServiceSid", s.messaging_service_sid.as_str()),
            ("Body", body),
        ];
        let response = self
            .http
            .post(url)
            .basic_auth(&s.account_sid, Some(s.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(|e| SmsError::Unreachable(without_url(e)))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SmsError::Unreachable(without_url(e)))?;
        if status.is_success() {
            return serde_json::from_slice::<Created>(&bytes)
                .map(|created| created.sid)
                .map_err(|_| SmsError::Refused {
                    status: status.as_u16(),
                    code: None,
                });
        }
        let code = serde_json::from_slice::<TwilioError>(&bytes)
            .ok()
            .and_then(|e| e.code);
        Err(match code {
            Some(21610) => SmsError::OptedOut,
            Some(code) if RECIPIENT_CODES.contains(&code) => SmsError::Recipient { code },
            code => SmsError::Refused {
                status: status.as_u16(),
                code,
            },
        })
    }
}

/// A transport error without its URL (it names the account; the message stays short).
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}
