//! What Sikka can answer besides data: [`SikkaError`], classified from the HTTP status and the
//! message envelope's `error_code` (Sikka's table in its getting-started guide), and mapped once
//! onto the port's [`PmsError`]. Messages carry codes and statuses only, never request values.

use std::time::Duration;

use super::wire::Message;
use crate::pms::PmsError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SikkaError {
    /// `API1025`: the request key expired (HTTP 400). Refresh and retry once.
    #[error("request key expired (API1025)")]
    KeyExpired,
    /// HTTP 401 (or `API1004`, request key missing/invalid) without a more specific code.
    #[error("request key rejected (HTTP {status}, {code})")]
    Unauthorized { status: u16, code: String },
    /// `API1001/1002/1003/1005/1006/1020/1026/1027/2003/2014`: our request or our application
    /// credentials are wrong; staff must act.
    #[error("Sikka rejected the gateway's setup ({code})")]
    Misconfigured { code: String },
    /// `API2007`: the practice no longer authorizes this application.
    #[error("practice not authorized for this application (API2007)")]
    PracticeNotAuthorized,
    /// `API2004`: this API is not in the application's plan.
    #[error("API not in the Sikka plan (API2004)")]
    NotInPlan,
    /// `API2005` / HTTP 204.
    #[error("no content (API2005)")]
    NoContent,
    /// `API2009` / HTTP 404.
    #[error("not found (API2009)")]
    NotFound,
    /// `API2010`: the practice's data has not been uploaded yet.
    #[error("practice data not uploaded yet (API2010)")]
    NotSynced,
    /// `API2013/2015` / HTTP 409.
    #[error("already exists ({code})")]
    Conflict { code: String },
    /// `API2017` / HTTP 412: the practice's sync agent (SPU) is offline.
    #[error("the practice's sync agent is offline (API2017)")]
    AgentOffline,
    /// `API2019` / HTTP 422 and other refusals of the request's values.
    #[error("invalid parameters ({code})")]
    Invalid { code: String },
    /// HTTP 429. `daily` for `API2011/2012` (a cap that lasts until tomorrow); `reset` is what
    /// `X-Rate-Limit-Reset` promised, when it did.
    #[error("rate limited ({code})")]
    RateLimited {
        code: String,
        daily: bool,
        reset: Option<Duration>,
    },
    /// HTTP 5xx (`API2001/2002/2006/2022`): a passing fault.
    #[error("Sikka unavailable (HTTP {status}, {code})")]
    Unavailable { status: u16, code: String },
    /// The call's deadline passed.
    #[error("timed out")]
    Timeout,
    /// A write was sent and its answer never came (the connection dropped or timed out after
    /// the request went out): Sikka may have taken it. Never retried.
    #[error("the answer to a write was lost")]
    AnswerLost,
    #[error("network error: {0}")]
    Network(String),
    /// An answer that is not what the documentation describes.
    #[error("unexpected answer from Sikka: {0}")]
    Protocol(String),
    /// The credential store has no record for the practice.
    #[error("no Sikka credentials stored for this practice")]
    NoCredentials,
    /// The credential store failed.
    #[error("credential store: {0}")]
    Store(String),
    /// Any other status and code.
    #[error("unexpected HTTP {status} ({code})")]
    Other { status: u16, code: String },
}

impl SikkaError {
    /// The `Code` dimension of the Sikka metrics: Sikka's own code (`API2017`) when it gave one
    /// of its documented form, else what kind of failure it was (`timeout`, `http_502`).
    pub fn metric_code(&self) -> String {
        let sikka = |code: &str, or: String| {
            let documented = code.len() == 7
                && code.starts_with("API")
                && code[3..].bytes().all(|b| b.is_ascii_digit());
            if documented { code.to_owned() } else { or }
        };
        match self {
            SikkaError::KeyExpired => "API1025".into(),
            SikkaError::PracticeNotAuthorized => "API2007".into(),
            SikkaError::NotInPlan => "API2004".into(),
            SikkaError::NoContent => "API2005".into(),
            SikkaError::NotFound => "API2009".into(),
            SikkaError::NotSynced => "API2010".into(),
            SikkaError::AgentOffline => "API2017".into(),
            SikkaError::Unauthorized { status, code }
            | SikkaError::Unavailable { status, code }
            | SikkaError::Other { status, code } => sikka(code, format!("http_{status}")),
            SikkaError::Misconfigured { code }
            | SikkaError::Conflict { code }
            | SikkaError::Invalid { code }
            | SikkaError::RateLimited { code, .. } => sikka(code, "refused".into()),
            SikkaError::Timeout => "timeout".into(),
            SikkaError::AnswerLost => "answer_lost".into(),
            SikkaError::Network(_) => "network".into(),
            SikkaError::Protocol(_) => "protocol".into(),
            SikkaError::NoCredentials => "no_credentials".into(),
            SikkaError::Store(_) => "credential_store".into(),
        }
    }

    /// Classifies a non-success answer from its status and (when it parsed) message envelope.
    pub fn from_answer(status: u16, message: Option<&Message>) -> Self {
        let code = message
            .and_then(|m| m.error_code.as_deref())
            .unwrap_or("")
            .trim()
            .to_ascii_uppercase();
        let code_or_status = if code.is_empty() {
            format!("HTTP {status}")
        } else {
            code.clone()
        };
        match code.as_str() {
            "API1025" => Self::KeyExpired,
            "API1004" => Self::Unauthorized {
                status,
                code: code_or_status,
            },
            "API1001" | "API1002" | "API1003" | "API1005" | "API1006" | "API1020" | "API1026"
            | "API1027" | "API2003" | "API2014" => Self::Misconfigured {
                code: code_or_status,
            },
            "API2007" => Self::PracticeNotAuthorized,
            "API2004" => Self::NotInPlan,
            "API2005" => Self::NoContent,
            "API2009" => Self::NotFound,
            "API2010" => Self::NotSynced,
            "API2013" | "API2015" => Self::Conflict {
                code: code_or_status,
            },
            "API2017" => Self::AgentOffline,
            "API2019" => Self::Invalid {
                code: code_or_status,
            },
            "API2011" | "API2012" => Self::RateLimited {
                code: code_or_status,
                daily: true,
                reset: None,
            },
            "API2001" | "API2002" | "API2006" | "API2022" => Self::Unavailable {
                status,
                code: code_or_status,
            },
            _ => match status {
                204 => Self::NoContent,
                401 => Self::Unauthorized {
                    status,
                    code: code_or_status,
                },
                404 => Self::NotFound,
                409 => Self::Conflict {
                    code: code_or_status,
                },
                412 => Self::AgentOffline,
                422 => Self::Invalid {
                    code: code_or_status,
                },
                429 => Self::RateLimited {
                    code: code_or_status,
                    daily: false,
                    reset: None,
                },
                500..=599 => Self::Unavailable {
                    status,
                    code: code_or_status,
                },
                _ => Self::Other {
                    status,
                    code: code_or_status,
                },
            },
        }
    }

    /// Whether the same call may succeed later (soon, or after a wait).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited { daily, .. } => !daily,
            Self::Unavailable { .. }
            | Self::Timeout
            | Self::Network(_)
            | Self::NotSynced
            | Self::Store(_) => true,
            _ => false,
        }
    }

    /// Whether the transport may repeat a read at once (with backoff): 5xx, timeouts, network.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Timeout | Self::Network(_)
        )
    }

    /// Whether a fresh request key may cure it (`API1025`, 401, `API1004`).
    pub(crate) fn wants_new_key(&self) -> bool {
        matches!(self, Self::KeyExpired | Self::Unauthorized { .. })
    }
}

/// What the receptionist can say when the PMS refuses a request's values.
const REJECTED: &str = "the practice's system did not accept those details";

impl From<SikkaError> for PmsError {
    fn from(e: SikkaError) -> Self {
        match e {
            SikkaError::AgentOffline => PmsError::Offline,
            SikkaError::NotInPlan => {
                PmsError::Unsupported("this request on the practice's Sikka plan")
            }
            SikkaError::Invalid { .. } => PmsError::Rejected(REJECTED.into()),
            SikkaError::NoContent | SikkaError::NotFound => PmsError::NotFound,
            SikkaError::Conflict { .. } => PmsError::Conflict,
            SikkaError::RateLimited { .. } => PmsError::RateLimited,
            SikkaError::KeyExpired | SikkaError::Unauthorized { .. } => {
                PmsError::Misconfigured("Sikka refused the practice's request key".into())
            }
            SikkaError::Misconfigured { code } => {
                PmsError::Misconfigured(format!("Sikka rejected the gateway's setup ({code})"))
            }
            SikkaError::PracticeNotAuthorized => PmsError::Misconfigured(
                "the practice no longer authorizes this application in Sikka (API2007)".into(),
            ),
            SikkaError::NoCredentials => {
                PmsError::Misconfigured("no Sikka credentials stored for this practice".into())
            }
            SikkaError::Store(detail) => PmsError::Transient(format!("credential store: {detail}")),
            SikkaError::NotSynced => {
                PmsError::Transient("the practice's data is still syncing to Sikka".into())
            }
            e @ (SikkaError::Unavailable { .. }
            | SikkaError::Timeout
            | SikkaError::AnswerLost
            | SikkaError::Network(_)
            | SikkaError::Protocol(_)) => PmsError::Transient(e.to_string()),
            SikkaError::Other { status, code } if status >= 500 => {
                PmsError::Transient(format!("Sikka HTTP {status} ({code})"))
            }
            SikkaError::Other { status, code } => {
                PmsError::Misconfigured(format!("unexpected Sikka answer HTTP {status} ({code})"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(code: &str) -> Message {
        Message {
            error_code: Some(code.into()),
            ..Message::default()
        }
    }

    #[test]
    fn every_documented_code_lands_where_the_table_says() {
        let cases: &[(u16, &str, PmsError)] = &[
            (412, "API2017", PmsError::Offline),
            (
                401,
                "API2004",
                PmsError::Unsupported("this request on the practice's Sikka plan"),
            ),
            (422, "API2019", PmsError::Rejected(REJECTED.into())),
            (204, "API2005", PmsError::NotFound),
            (404, "API2009", PmsError::NotFound),
            (409, "API2013", PmsError::Conflict),
            (409, "API2015", PmsError::Conflict),
            (429, "API2011", PmsError::RateLimited),
            (429, "API2012", PmsError::RateLimited),
            (429, "", PmsError::RateLimited),
        ];
        for (status, code, want) in cases {
            let got = PmsError::from(SikkaError::from_answer(*status, Some(&msg(code))));
            assert_eq!(&got, want, "{status} {code}");
        }
        for (status, code) in [
            (401, "API2007"),
            (401, "API2003"),
            (400, "API1001"),
            (400, "API1002"),
            (400, "API1005"),
        ] {
            let got = PmsError::from(SikkaError::from_answer(status, Some(&msg(code))));
            assert!(matches!(got, PmsError::Misconfigured(_)), "{code}: {got:?}");
        }
        for (status, code) in [
            (503, "API2002"),
            (504, "API2022"),
            (500, "API2001"),
            (500, "API2006"),
            (502, ""),
        ] {
            let e = SikkaError::from_answer(status, Some(&msg(code)));
            assert!(e.is_transient() && e.is_retryable(), "{code}");
            assert!(
                matches!(PmsError::from(e), PmsError::Transient(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn key_expiry_and_401_ask_for_a_new_key() {
        assert!(SikkaError::from_answer(400, Some(&msg("API1025"))).wants_new_key());
        assert!(SikkaError::from_answer(401, None).wants_new_key());
        assert!(SikkaError::from_answer(400, Some(&msg("api1004"))).wants_new_key());
        assert!(!SikkaError::from_answer(503, None).wants_new_key());
    }

    #[test]
    fn daily_caps_are_not_transient_but_the_minute_window_is() {
        assert!(!SikkaError::from_answer(429, Some(&msg("API2012"))).is_transient());
        assert!(SikkaError::from_answer(429, None).is_transient());
        assert!(!SikkaError::from_answer(429, None).is_retryable());
    }
}
