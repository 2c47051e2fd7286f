//! Credentials: the application's (`App-Id`/`App-Key` headers), the request-key grants and their
//! refresh (`POST /request_key`), the request key a data call carries (checked, and its own
//! calls `request_key_info` and `DELETE /request_key`), `DELETE /refresh_key`, and the offices
//! that authorized the application (`GET /authorized_practices`).

use std::collections::HashMap;

use jiff::Timestamp;
use poem::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::sikka::lock;
use crate::sikka::wire::{self, Reply};
use crate::sikka::writeback::{self, text};

use super::{Params, Shared, State, header, param};

const SCOPE: &str = "start,end,appointment_statuses,appointments,operatories,patients,practices,\
practice_schedule,practice_variables,providers,request_keys,authorized_practices,writebacks";

/// A request key issued.
pub(super) struct KeyRecord {
    office_id: String,
    start: Timestamp,
    end: Timestamp,
    revoked: bool,
    request_count: u64,
}

/// The offices that authorized the application, and the request and refresh keys issued so far.
pub(super) struct Keys {
    /// `(office id, secret key)` of each office that authorized the application, in the order
    /// they did: listed by `authorized_practices`, and the only offices granted request keys.
    offices: Vec<(String, String)>,
    /// request key → its record.
    request: HashMap<String, KeyRecord>,
    /// refresh key → office id.
    refresh: HashMap<String, String>,
}

impl Keys {
    /// One office, `office_id`, has authorized the application with `secret_key`.
    pub(super) fn new(office_id: &str, secret_key: &str) -> Self {
        Self {
            offices: vec![(office_id.to_owned(), secret_key.to_owned())],
            request: HashMap::new(),
            refresh: HashMap::new(),
        }
    }

    /// The secret key of `office`, while it authorizes the application.
    fn secret_of(&self, office: &str) -> Option<&str> {
        self.offices
            .iter()
            .find(|(o, _)| o == office)
            .map(|(_, secret)| secret.as_str())
    }
}

fn datetime_text(t: Timestamp) -> String {
    wire::sikka_datetime(t.to_zoned_datetime(jiff::tz::TimeZone::UTC).datetime())
}

impl Shared {
    pub(in crate::sikka) fn expire_all_keys(&self) {
        let now = self.opts.clock.now();
        for k in lock(&self.state).keys.request.values_mut() {
            k.end = k.end.min(now);
        }
    }

    /// `office_id` authorizes the application with `secret_key` (replacing the secret of an
    /// office that already does).
    pub(in crate::sikka) fn authorize_office(&self, office_id: &str, secret_key: &str) {
        let offices = &mut lock(&self.state).keys.offices;
        match offices.iter_mut().find(|(o, _)| o == office_id) {
            Some((_, secret)) => *secret = secret_key.to_owned(),
            None => offices.push((office_id.to_owned(), secret_key.to_owned())),
        }
    }

    /// `office_id` withdraws its authorization: it is no longer listed, and its grants and the
    /// calls made with its keys answer `API2007`.
    pub(in crate::sikka) fn withdraw_office(&self, office_id: &str) {
        lock(&self.state)
            .keys
            .offices
            .retain(|(o, _)| o != office_id);
    }

    /// Every request and refresh key issued so far.
    pub(in crate::sikka) fn issued_keys(&self) -> Vec<String> {
        let st = lock(&self.state);
        st.keys
            .request
            .keys()
            .chain(st.keys.refresh.keys())
            .cloned()
            .collect()
    }

    fn new_secret(st: &mut State, kind: &str) -> String {
        st.seq += 1;
        let digest = Sha256::digest(format!(
            "{kind}-{}-{}-{}",
            st.seq,
            std::process::id(),
            std::hash::BuildHasher::hash_one(
                &std::collections::hash_map::RandomState::new(),
                st.seq
            )
        ));
        hex::encode(digest)[..32].to_owned()
    }

    /// `None` when `App-Id`/`App-Key` are right, else the error answer.
    pub(super) fn app(&self, h: &HeaderMap) -> Option<Reply> {
        let Some(id) = header(h, "app-id") else {
            return Some(wire::missing_app_id());
        };
        let Some(key) = header(h, "app-key") else {
            return Some(wire::missing_app_key());
        };
        (id != self.opts.app_id || key != self.opts.app_key).then(wire::wrong_app_credentials)
    }

    fn session_terminated() -> Reply {
        wire::message(
            200,
            "API0002",
            "OK",
            "Request Session terminated successfully.",
            "",
        )
    }

    fn key_json(&self, key: &str, k: &KeyRecord, now: Timestamp) -> Value {
        let left = (k.end.as_second() - now.as_second()).max(0);
        json!({
            "href": format!("{}/request_key_info?request_key={key}", self.base_url),
            "status": if now >= k.end { "expired" } else { "active" },
            "request_key": key,
            "start_time": datetime_text(k.start),
            "end_time": datetime_text(k.end),
            "expires_in": format!("{left} second(s)"),
            "issued_to": k.office_id,
            "request_count": k.request_count.to_string(),
            "scope": SCOPE,
            "domain": "Dental",
        })
    }

    /// `POST /request_key`, both grant types.
    pub(super) fn grant(&self, st: &mut State, body: &[u8]) -> Reply {
        let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
            return wire::invalid_parameter("The body must be a JSON object");
        };
        let get = |k: &str| text(&b, k);
        let Some(app_id) = get("app_id") else {
            return wire::missing_app_id();
        };
        let Some(app_key) = get("app_key") else {
            return wire::missing_app_key();
        };
        if app_id != self.opts.app_id || app_key != self.opts.app_key {
            return wire::wrong_app_credentials();
        }
        let (office, refresh, is_refresh) = match get("grant_type").as_deref() {
            Some("request_key") => {
                let Some(office) = get("office_id") else {
                    return wire::missing_parameter("office_id");
                };
                let Some(secret) = get("secret_key") else {
                    return wire::missing_secret_key();
                };
                if st.keys.secret_of(&office) != Some(secret.as_str()) {
                    return wire::practice_not_authorized();
                }
                let refresh = Self::new_secret(st, "refresh");
                st.keys.refresh.insert(refresh.clone(), office.clone());
                (office, refresh, false)
            }
            Some("refresh_key") => {
                let Some(refresh) = get("refresh_key") else {
                    return wire::missing_parameter("refresh_key");
                };
                let Some(office) = st.keys.refresh.get(&refresh).cloned() else {
                    return wire::invalid_parameter("refresh_key is invalid or deleted");
                };
                if st.keys.secret_of(&office).is_none() {
                    return wire::practice_not_authorized();
                }
                (office, refresh, true)
            }
            _ => {
                return wire::invalid_parameter(
                    "grant_type must be either request_key or refresh_key",
                );
            }
        };
        let key = Self::new_secret(st, "request");
        let start = self.opts.clock.now();
        let lifetime = self.opts.request_key_lifetime;
        let end = start
            .checked_add(jiff::SignedDuration::try_from(lifetime).unwrap_or_default())
            .unwrap_or(start);
        let record = KeyRecord {
            office_id: office.clone(),
            start,
            end,
            revoked: false,
            request_count: 1,
        };
        let mut answer = self.key_json(&key, &record, start);
        answer["expires_in"] = format!("{} second(s)", lifetime.as_secs()).into();
        answer["refresh_key"] = refresh.into();
        st.keys.request.insert(key, record);
        {
            let mut c = lock(&self.counters);
            if is_refresh {
                c.refresh_grants += 1;
            } else {
                c.request_key_grants += 1;
                c.granted_offices.push(office);
            }
        }
        Reply::json(StatusCode::OK, answer).header("Request-Key-Expires", wire::http_date(end))
    }

    /// One item per office that authorizes the application, each the emulated practice.
    pub(super) fn authorized_practices(&self, st: &State, q: &Params) -> Reply {
        let o = &self.opts;
        let today = writeback::now_stamp(&self.opts.clock);
        let item = |office_id: &str, secret_key: &str| {
            json!({
                "href": format!("{}/authorized_practices/{office_id}", self.base_url),
                "city": "Los Angeles",
                "state": "CA",
                "practice_id": o.practice_id,
                "address": "100 Main Street",
                "zip": "90012",
                "office_id": office_id,
                "domain": "Dental",
                "secret_key": secret_key,
                "practice_name": st.db.practice_name,
                "practice_management_system": o.pms,
                "financial_system": "",
                "practice_management_system_refresh_date": wire::sikka_datetime(today),
                "data_synchronization_date": wire::sikka_datetime(today),
                "data_insert_date": wire::sikka_datetime(today),
                "practice_management_system_version": "G7.2",
                "practice_management_system_refresh_date_time_zone": "Pacific Standard Time",
                "partner_id": "",
                "financial_system_refresh_date": "",
                "financial_system_version": "",
                "difference_in_minutes": "0",
            })
        };
        let items = if self.ours(q)
            && param(q, "practice_management_system").is_none_or(|p| p.eq_ignore_ascii_case(&o.pms))
        {
            st.keys
                .offices
                .iter()
                .map(|(office, secret)| item(office, secret))
                .collect()
        } else {
            Vec::new()
        };
        self.list("authorized_practices", q, items)
    }

    /// `DELETE /refresh_key` (an application call).
    pub(super) fn delete_refresh_key(&self, st: &mut State, h: &HeaderMap) -> Reply {
        match header(h, "refresh-key").and_then(|k| st.keys.refresh.remove(k)) {
            Some(_) => Self::session_terminated(),
            None => wire::invalid_parameter("Refresh-Key is missing or invalid"),
        }
    }

    /// The request key a data call carries (header `Request-Key` or parameter `request_key`):
    /// `Ok(its Request-Key-Expires)` when the call may go on (the key's use counted), else the
    /// whole answer: the key missing, unknown or expired, or a call about the key itself
    /// (`GET /request_key_info`, `DELETE /request_key`).
    pub(super) fn request_key(
        &self,
        st: &mut State,
        method: &str,
        segs: &[&str],
        h: &HeaderMap,
        q: &Params,
    ) -> Result<String, Reply> {
        let key = header(h, "request-key")
            .or_else(|| param(q, "request_key"))
            .map(str::to_owned);
        let Some(key) = key else {
            return Err(wire::missing_request_key());
        };
        let now = self.opts.clock.now();
        let withdrawn = st
            .keys
            .request
            .get(&key)
            .is_some_and(|k| st.keys.secret_of(&k.office_id).is_none());
        let Some(record) = st.keys.request.get_mut(&key).filter(|k| !k.revoked) else {
            return Err(wire::missing_request_key());
        };
        let expires = wire::http_date(record.end);
        if method == "GET" && segs == ["request_key_info"] {
            record.request_count += 1;
            let info = self.key_json(&key, record, now);
            return Err(Reply::json(StatusCode::OK, info).header("Request-Key-Expires", expires));
        }
        if now >= record.end {
            return Err(wire::expired_request_key().header("Request-Key-Expires", expires));
        }
        if withdrawn {
            return Err(wire::practice_not_authorized().header("Request-Key-Expires", expires));
        }
        record.request_count += 1;
        if method == "DELETE" && segs == ["request_key"] {
            record.revoked = true;
            record.end = now;
            return Err(
                Self::session_terminated().header("Request-Key-Expires", wire::http_date(now))
            );
        }
        Ok(expires)
    }
}
