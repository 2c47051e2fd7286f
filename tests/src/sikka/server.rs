//! The HTTP side: one poem endpoint that counts, delays, injects faults, rate-limits, checks
//! credentials and routes to the handlers below.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::{Timestamp, ToSpan};
use poem::http::{HeaderMap, StatusCode};
use poem::{Endpoint, Request, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::knobs::{Counters, KnobState};
use super::seed::Db;
use super::wire::{self, Projection, Reply, page};
use super::writeback::{
    self, FIRST_WRITEBACK_ID, Op, Record, parse_date, parse_length, parse_time, text,
};
use super::{PhoneFilter, SikkaOptions, WritebackStatusShape, fields, lock};

type Params = HashMap<String, String>;

const SCOPE: &str = "start,end,appointment_statuses,appointments,operatories,patients,practices,\
practice_schedule,practice_variables,providers,request_keys,authorized_practices,writebacks";

struct KeyRecord {
    office_id: String,
    start: Timestamp,
    end: Timestamp,
    revoked: bool,
    request_count: u64,
}

pub(super) struct State {
    db: Db,
    keys: HashMap<String, KeyRecord>,
    /// refresh key → office id.
    refresh_keys: HashMap<String, String>,
    writebacks: Vec<Record>,
    next_writeback: u64,
    seq: u64,
    window_start: Instant,
    window_count: u32,
}

pub(super) struct Shared {
    opts: SikkaOptions,
    base_url: String,
    state: Mutex<State>,
    pub(super) knobs: Mutex<KnobState>,
    pub(super) counters: Mutex<Counters>,
}

impl Shared {
    pub(super) fn new(opts: SikkaOptions, base_url: String, db: Db) -> Self {
        let knobs = KnobState {
            latency: Duration::ZERO,
            lose_next_write_answers: 0,
            fail_next: 0,
            throttle_next: 0,
            throttle_reset_secs: 60,
            agent_online: true,
            writeback_delay: opts.writeback_delay,
            writebacks_fail: None,
            rate_limit_per_minute: opts.rate_limit_per_minute,
            writeback_status_shape: opts.writeback_status_shape,
        };
        Self {
            opts,
            base_url,
            state: Mutex::new(State {
                db,
                keys: HashMap::new(),
                refresh_keys: HashMap::new(),
                writebacks: Vec::new(),
                next_writeback: FIRST_WRITEBACK_ID,
                seq: 0,
                window_start: Instant::now(),
                window_count: 0,
            }),
            knobs: Mutex::new(knobs),
            counters: Mutex::new(Counters::default()),
        }
    }

    pub(super) fn expire_all_keys(&self) {
        let now = self.opts.clock.now();
        for k in lock(&self.state).keys.values_mut() {
            k.end = k.end.min(now);
        }
    }

    pub(super) fn reset_rate_window(&self) {
        let mut st = lock(&self.state);
        st.window_start = Instant::now();
        st.window_count = 0;
    }

    pub(super) fn apply_writebacks_now(&self) {
        let knobs = lock(&self.knobs).clone();
        let mut st = lock(&self.state);
        apply_due(
            &mut st,
            &knobs,
            None,
            writeback::now_stamp(&self.opts.clock),
        );
    }

    pub(super) fn pending_writebacks(&self) -> usize {
        lock(&self.state)
            .writebacks
            .iter()
            .filter(|w| w.outcome.is_none())
            .count()
    }

    /// Counts the request in the rate window: (limit, remaining, reset seconds, over the limit).
    fn rate(&self, limit: u32) -> (u32, u32, u64, bool) {
        let mut st = lock(&self.state);
        let now = Instant::now();
        if now.duration_since(st.window_start) >= Duration::from_secs(60) {
            st.window_start = now;
            st.window_count = 0;
        }
        st.window_count = st.window_count.saturating_add(1);
        let elapsed = now.duration_since(st.window_start).as_secs();
        let reset = 60u64.saturating_sub(elapsed).max(1);
        (
            limit,
            limit.saturating_sub(st.window_count),
            reset,
            st.window_count > limit,
        )
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
}

/// Applies the queued writebacks that are due (all of them with `all`), if the agent is online.
fn apply_due(st: &mut State, knobs: &KnobState, at: Option<Instant>, stamp: DateTime) {
    if !knobs.agent_online {
        return;
    }
    let State { db, writebacks, .. } = st;
    for record in writebacks.iter_mut().filter(|w| w.outcome.is_none()) {
        if at.is_some_and(|now| record.due > now) {
            continue;
        }
        record.outcome = Some(writeback::apply(
            record,
            db,
            knobs.writebacks_fail.as_deref(),
            stamp,
        ));
    }
}

pub(super) struct Emulator {
    shared: Arc<Shared>,
}

impl Emulator {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Endpoint for Emulator {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let shared = &self.shared;
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        *lock(&shared.counters)
            .requests
            .entry((method.clone(), path.clone()))
            .or_default() += 1;
        let latency = lock(&shared.knobs).latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let (fault, knobs) = {
            let mut k = lock(&shared.knobs);
            let fault = if k.fail_next > 0 {
                k.fail_next -= 1;
                Some(wire::overloaded())
            } else if k.throttle_next > 0 {
                k.throttle_next -= 1;
                let reset = k.throttle_reset_secs;
                Some(
                    wire::too_many_requests(k.rate_limit_per_minute, reset)
                        .header("X-Rate-Limit-Limit", k.rate_limit_per_minute.to_string())
                        .header("X-Rate-Limit-Remaining", "0")
                        .header("X-Rate-Limit-Reset", reset.to_string()),
                )
            } else {
                None
            };
            (fault, k.clone())
        };
        if let Some(reply) = fault {
            return Ok(respond(reply));
        }
        let (limit, remaining, reset, over) = shared.rate(knobs.rate_limit_per_minute);
        let reply = if over {
            wire::too_many_requests(limit, reset)
        } else {
            let body = req.take_body().into_vec().await.unwrap_or_default();
            let params: Params = req.params().unwrap_or_default();
            shared.handle(&method, &path, req.headers(), &params, &body, &knobs)
        };
        let is_write = matches!(method.as_str(), "POST" | "PUT" | "PATCH")
            && !path.ends_with("/request_key")
            && (200..300).contains(&reply.status.as_u16());
        if is_write {
            let lost = {
                let mut k = lock(&shared.knobs);
                let lost = k.lose_next_write_answers > 0;
                k.lose_next_write_answers = k.lose_next_write_answers.saturating_sub(1);
                lost
            };
            if lost {
                // Taken and queued; the answer never comes.
                std::future::pending::<()>().await;
            }
        }
        Ok(respond(
            reply
                .header("X-Rate-Limit-Limit", limit.to_string())
                .header("X-Rate-Limit-Remaining", remaining.to_string())
                .header("X-Rate-Limit-Reset", reset.to_string()),
        ))
    }
}

fn respond(reply: Reply) -> Response {
    let mut builder = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    match reply.body {
        Some(body) => builder
            .content_type("application/json")
            .body(body.to_string()),
        None => builder.body(()),
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn datetime_text(t: Timestamp) -> String {
    wire::sikka_datetime(t.to_zoned_datetime(jiff::tz::TimeZone::UTC).datetime())
}

/// The last ten digits, for lenient phone comparison.
fn last10(s: &str) -> String {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(10)..].to_owned()
}

fn week_start(d: Date) -> Date {
    d - i64::from(d.weekday().to_sunday_zero_offset()).days()
}

const DAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

impl Shared {
    fn handle(
        &self,
        method: &str,
        path: &str,
        h: &HeaderMap,
        q: &Params,
        body: &[u8],
        knobs: &KnobState,
    ) -> Reply {
        let Some(rest) = path.strip_prefix("/v4/") else {
            return wire::not_found();
        };
        let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        let mut st = lock(&self.state);
        apply_due(
            &mut st,
            knobs,
            Some(Instant::now()),
            writeback::now_stamp(&self.opts.clock),
        );
        match (method, segs.as_slice()) {
            ("POST", ["request_key"]) => return self.grant(&mut st, body),
            ("GET", ["authorized_practices"]) => {
                return self
                    .app(h)
                    .unwrap_or_else(|| self.authorized_practices(&st.db, q));
            }
            ("DELETE", ["refresh_key"]) => {
                return self.app(h).unwrap_or_else(|| {
                    match header(h, "refresh-key").and_then(|k| st.refresh_keys.remove(k)) {
                        Some(_) => Self::session_terminated(),
                        None => wire::invalid_parameter("Refresh-Key is missing or invalid"),
                    }
                });
            }
            ("GET", ["writebacks"]) => {
                return self.app(h).unwrap_or_else(|| self.writebacks(&st, q));
            }
            ("DELETE", ["writebacks"]) => {
                return self
                    .app(h)
                    .unwrap_or_else(|| self.delete_writeback(&mut st, q));
            }
            _ => {}
        }
        // Everything else is called with a request key.
        let key = header(h, "request-key")
            .or_else(|| param(q, "request_key"))
            .map(str::to_owned);
        let Some(key) = key else {
            return wire::missing_request_key();
        };
        let now = self.opts.clock.now();
        let Some(record) = st.keys.get_mut(&key).filter(|k| !k.revoked) else {
            return wire::missing_request_key();
        };
        let expires = wire::http_date(record.end);
        if method == "GET" && segs.as_slice() == ["request_key_info"] {
            record.request_count += 1;
            let info = self.key_json(&key, record, now);
            return Reply::json(StatusCode::OK, info).header("Request-Key-Expires", expires);
        }
        if now >= record.end {
            return wire::expired_request_key().header("Request-Key-Expires", expires);
        }
        record.request_count += 1;
        if method == "DELETE" && segs.as_slice() == ["request_key"] {
            record.revoked = true;
            record.end = now;
            return Self::session_terminated().header("Request-Key-Expires", wire::http_date(now));
        }
        let reply = match (method, segs.as_slice()) {
            ("GET", ["practices"]) => self.practices(&st.db, q),
            ("GET", ["patients"]) => self.patients(&st.db, q).header("Data-Insert", "completed"),
            ("GET", ["appointments"]) => self
                .appointments(&st.db, q)
                .header("Data-Insert", "completed"),
            ("GET", ["providers"]) => self.providers(&st.db, q),
            ("GET", ["operatories"]) => self.operatories(&st.db, q),
            ("GET", ["practice_schedule"]) => self.practice_schedule(&st.db, q),
            ("GET", ["appointment_statuses"]) => self.appointment_statuses(q),
            ("GET", ["practice_variables"]) => self.practice_variables(q),
            ("GET", ["writeback_status"]) => self.writeback_status(&st, q, knobs),
            ("POST", ["appointment"]) => self.write(&mut st, knobs, body, WriteKind::Book),
            ("PUT", ["appointments", sr_no]) => {
                self.write(&mut st, knobs, body, WriteKind::Update(sr_no))
            }
            ("PATCH", ["appointments", sr_no]) => {
                self.write(&mut st, knobs, body, WriteKind::SetStatus(sr_no))
            }
            ("POST", ["patient"]) => self.write(&mut st, knobs, body, WriteKind::CreatePatient),
            ("PATCH", ["patient", id]) => {
                self.write(&mut st, knobs, body, WriteKind::UpdatePatient(id))
            }
            _ => wire::not_found(),
        };
        reply.header("Request-Key-Expires", expires)
    }

    /// `None` when `App-Id`/`App-Key` are right, else the error answer.
    fn app(&self, h: &HeaderMap) -> Option<Reply> {
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
    fn grant(&self, st: &mut State, body: &[u8]) -> Reply {
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
                if office != self.opts.office_id || secret != self.opts.secret_key {
                    return wire::practice_not_authorized();
                }
                let refresh = Self::new_secret(st, "refresh");
                st.refresh_keys.insert(refresh.clone(), office.clone());
                (office, refresh, false)
            }
            Some("refresh_key") => {
                let Some(refresh) = get("refresh_key") else {
                    return wire::missing_parameter("refresh_key");
                };
                let Some(office) = st.refresh_keys.get(&refresh).cloned() else {
                    return wire::invalid_parameter("refresh_key is invalid or deleted");
                };
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
            office_id: office,
            start,
            end,
            revoked: false,
            request_count: 1,
        };
        let mut answer = self.key_json(&key, &record, start);
        answer["expires_in"] = format!("{} second(s)", lifetime.as_secs()).into();
        answer["refresh_key"] = refresh.into();
        st.keys.insert(key, record);
        {
            let mut c = lock(&self.counters);
            if is_refresh {
                c.refresh_grants += 1;
            } else {
                c.request_key_grants += 1;
            }
        }
        Reply::json(StatusCode::OK, answer).header("Request-Key-Expires", wire::http_date(end))
    }

    /// Offset (a page number) and limit of a list call.
    fn list(&self, api: &str, q: &Params, items: Vec<Value>) -> Reply {
        let offset = param(q, "offset")
            .and_then(|o| o.parse::<usize>().ok())
            .unwrap_or(0);
        let limit = param(q, "limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(50)
            .min(5000);
        page(&self.base_url, api, offset, limit, items)
    }

    fn projection(q: &Params) -> Projection {
        Projection::parse(param(q, "fields"), param(q, "lightweight"))
    }

    fn ours(&self, q: &Params) -> bool {
        param(q, "practice_id").is_none_or(|p| p == self.opts.practice_id)
    }

    fn authorized_practices(&self, db: &Db, q: &Params) -> Reply {
        let o = &self.opts;
        let today = writeback::now_stamp(&self.opts.clock);
        let item = json!({
            "href": format!("{}/authorized_practices/{}", self.base_url, o.office_id),
            "city": "Los Angeles",
            "state": "CA",
            "practice_id": o.practice_id,
            "address": "100 Main Street",
            "zip": "90012",
            "office_id": o.office_id,
            "domain": "Dental",
            "secret_key": o.secret_key,
            "practice_name": db.practice_name,
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
        });
        let items = if self.ours(q)
            && param(q, "practice_management_system").is_none_or(|p| p.eq_ignore_ascii_case(&o.pms))
        {
            vec![item]
        } else {
            Vec::new()
        };
        self.list("authorized_practices", q, items)
    }

    fn practices(&self, db: &Db, q: &Params) -> Reply {
        let o = &self.opts;
        let practice = format!("{}/practices/{}", self.base_url, o.practice_id);
        let name = db.practice_name.clone();
        let full: Map<String, Value> = json!({
            "href": practice,
            "patient_href": format!("{practice}/patients"),
            "address_line1": "100 Main Street",
            "address_line2": "Suite 200",
            "city": "Los Angeles",
            "state": "CA",
            "zipcode": "90012",
            "email": "",
            "provider_href": format!("{practice}/providers"),
            "practice_id": o.practice_id,
            "appointment_href": format!("{practice}/appointments"),
            "guarantor_href": format!("{practice}/guarantors"),
            "country": "USA",
            "transaction_href": format!("{practice}/transactions"),
            "description": "",
            "name": name,
            "cust_id": o.cust_id,
            "national_provider_identifier": "",
            "phone": "5105550198",
            "website": "",
            "is_main_office": "True",
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        let items = if self.ours(q) {
            vec![Self::projection(q).apply(&full, fields::PRACTICES, fields::PRACTICES_ALL)]
        } else {
            Vec::new()
        };
        self.list("practices", q, items)
    }

    fn patients(&self, db: &Db, q: &Params) -> Reply {
        let proj = Self::projection(q);
        let ci = |name: &str, value: &str| {
            param(q, name).is_none_or(|v| v.eq_ignore_ascii_case(value.trim()))
        };
        let phone_eq = |v: &str, stored: &str| match self.opts.phone_filter {
            PhoneFilter::Exact => !stored.is_empty() && v == stored,
            PhoneFilter::Digits => !stored.is_empty() && last10(v) == last10(stored),
        };
        let phone = |name: &str, stored: &[&str]| {
            param(q, name).is_none_or(|v| stored.iter().any(|s| phone_eq(v, s)))
        };
        let search = param(q, "search").map(str::to_lowercase);
        let mut rows: Vec<_> = db
            .patients
            .iter()
            .filter(|p| {
                self.ours(q)
                    && ci("patient_id", &p.patient_id)
                    && ci("guarantor_id", &p.guarantor_id)
                    && ci("provider_id", &p.provider_id)
                    && ci("firstname", &p.firstname)
                    && ci("lastname", &p.lastname)
                    && ci("email", &p.email)
                    && ci("status", &p.status)
                    && phone("cell", &[&p.cell])
                    && phone("homephone", &[&p.homephone])
                    && phone("workphone", &[&p.workphone])
                    && phone("phone", &[&p.cell, &p.homephone, &p.workphone])
                    && search.as_ref().is_none_or(|s| {
                        [
                            &p.firstname,
                            &p.lastname,
                            &p.middlename,
                            &p.email,
                            &p.city,
                            &p.state,
                            &p.zipcode,
                            &p.homephone,
                            &p.workphone,
                            &p.cell,
                        ]
                        .iter()
                        .any(|f| f.to_lowercase().contains(s.as_str()))
                    })
            })
            .collect();
        rows.sort_by_key(|p| {
            (
                p.patient_id.parse::<u64>().unwrap_or(u64::MAX),
                p.patient_id.clone(),
            )
        });
        let (o, base) = (&self.opts, &self.base_url);
        let items = rows
            .into_iter()
            .map(|p| {
                let full = wire::patient_item(base, &o.practice_id, &o.cust_id, p, db);
                proj.apply(&full, fields::PATIENTS, fields::PATIENTS_ALL)
            })
            .collect();
        self.list("patients", q, items)
    }

    fn appointments(&self, db: &Db, q: &Params) -> Reply {
        let date = |name: &'static str| param(q, name).map(move |d| parse_date(d).ok_or(name));
        let (from, to) = match (date("startdate").transpose(), date("enddate").transpose()) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(n), _) | (_, Err(n)) => {
                return wire::unprocessable(&format!("{n} must be yyyy-mm-dd"));
            }
        };
        let ci = |name: &str, value: &str| {
            param(q, name).is_none_or(|v| v.eq_ignore_ascii_case(value.trim()))
        };
        let proj = Self::projection(q);
        let mut rows: Vec<_> = db
            .appointments
            .iter()
            .filter(|a| {
                self.ours(q)
                    && from.is_none_or(|f| a.date >= f)
                    && to.is_none_or(|t| a.date <= t)
                    && ci("appointment_sr_no", &a.sr_no.to_string())
                    && ci("patient_id", &a.patient_id)
                    && ci("provider_id", &a.provider_id)
                    && ci("status", &a.status)
                    && ci("operatory", &a.operatory)
                    && ci("type", &a.kind)
            })
            .collect();
        rows.sort_by_key(|a| a.sr_no);
        let (o, base) = (&self.opts, &self.base_url);
        let items = rows
            .into_iter()
            .map(|a| {
                let full = wire::appointment_item(base, &o.practice_id, &o.cust_id, a, db);
                proj.apply(&full, fields::APPOINTMENTS, fields::APPOINTMENTS_ALL)
            })
            .collect();
        self.list("appointments", q, items)
    }

    fn providers(&self, db: &Db, q: &Params) -> Reply {
        let proj = Self::projection(q);
        let ci = |name: &str, value: &str| {
            param(q, name).is_none_or(|v| v.eq_ignore_ascii_case(value.trim()))
        };
        let o = &self.opts;
        let items = db
            .providers
            .iter()
            .filter(|p| {
                self.ours(q)
                    && ci("provider_id", &p.provider_id)
                    && ci("status", &p.status)
                    && ci("provider_type", "Provider")
            })
            .map(|p| {
                let full = wire::provider_item(&self.base_url, &o.practice_id, &o.cust_id, p);
                proj.apply(&full, fields::PROVIDERS, fields::PROVIDERS_ALL)
            })
            .collect();
        self.list("providers", q, items)
    }

    fn operatories(&self, db: &Db, q: &Params) -> Reply {
        let Some(cust_id) = param(q, "cust_id") else {
            return wire::missing_parameter("cust_id");
        };
        let hidden = param(q, "is_hidden").or_else(|| param(q, "is_hidded"));
        let o = &self.opts;
        let mut rows: Vec<_> = db
            .operatories
            .iter()
            .filter(|op| {
                cust_id == o.cust_id
                    && self.ours(q)
                    && hidden
                        .is_none_or(|h| h.eq_ignore_ascii_case(if op.hidden { "T" } else { "F" }))
            })
            .collect();
        rows.sort_by(|a, b| a.operatory.cmp(&b.operatory));
        let items = rows
            .into_iter()
            .map(|op| Value::Object(wire::operatory_item(&o.practice_id, &o.cust_id, op)))
            .collect();
        self.list("operatories", q, items)
    }

    /// One row per week (starting Sunday) from five weeks back to thirteen weeks ahead, for the
    /// practice as a whole and for each provider.
    fn practice_schedule(&self, db: &Db, q: &Params) -> Reply {
        let o = &self.opts;
        let on = match param(q, "date").map(|d| parse_date(d).ok_or(())) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(())) => return wire::unprocessable("date must be yyyy-mm-dd"),
        };
        let first = week_start(db.today - 35.days());
        let last = week_start(db.today + 91.days());
        let mut resources = vec![("Practice".to_owned(), o.practice_id.clone())];
        resources.extend(
            db.providers
                .iter()
                .map(|p| ("Provider".to_owned(), p.provider_id.clone())),
        );
        resources.sort_by(|a, b| a.1.cmp(&b.1));
        let proj = Self::projection(q);
        let practice = format!("{}/practices/{}", self.base_url, o.practice_id);
        let mut items = Vec::new();
        for (kind, id) in &resources {
            let wanted = param(q, "resource_type").is_none_or(|t| t.eq_ignore_ascii_case(kind))
                && param(q, "resource_id").is_none_or(|r| r == id)
                && self.ours(q);
            if !wanted {
                continue;
            }
            let mut week = first;
            while week <= last {
                let next = week + 7.days();
                if on.is_none_or(|d| week <= d && d < next) {
                    let mut full = obj_of(json!({
                        "href": format!("{practice}/practice_schedule/{id}"),
                        "practice_id": o.practice_id,
                        "practice_href": practice,
                        "date": wire::sikka_date(week),
                        "cust_id": o.cust_id,
                        "resource_type": kind,
                        "resource_id": id,
                    }));
                    for (i, day) in DAYS.iter().enumerate() {
                        let monday_first = (i + 6) % 7;
                        let blocks = if kind == "Practice" {
                            db.practice_blocks(monday_first)
                        } else {
                            db.provider_blocks(monday_first, id)
                        };
                        for n in 0..3 {
                            let (s, e) = blocks
                                .get(n)
                                .map(|(s, e)| (wire::hhmm(*s), wire::hhmm(*e)))
                                .unwrap_or_default();
                            full.insert(format!("{day}_start_{}", n + 1), s.into());
                            full.insert(format!("{day}_end_{}", n + 1), e.into());
                        }
                        full.insert(format!("{day}_holiday"), "False".into());
                    }
                    items.push(proj.apply(
                        &full,
                        fields::PRACTICE_SCHEDULE,
                        fields::PRACTICE_SCHEDULE_ALL,
                    ));
                }
                week = next;
            }
        }
        self.list("practice_schedule", q, items)
    }

    fn appointment_statuses(&self, q: &Params) -> Reply {
        let practice = format!("{}/practices/{}", self.base_url, self.opts.practice_id);
        let items = super::APPOINTMENT_STATUSES
            .iter()
            .filter(|_| self.ours(q))
            .map(|s| {
                json!({
                    "href": format!("{practice}/appointment_statuses/{s}"),
                    "status": s,
                    "practice_id": self.opts.practice_id,
                    "practice_href": practice,
                })
            })
            .collect();
        self.list("appointment_statuses", q, items)
    }

    fn practice_variables(&self, q: &Params) -> Reply {
        let practice = format!("{}/practices/{}", self.base_url, self.opts.practice_id);
        let proj = Self::projection(q);
        let vars = super::APPOINTMENT_STATUSES
            .iter()
            .map(|v| ("Appointment Status", *v))
            .chain(
                super::seed::APPOINTMENT_TYPES
                    .iter()
                    .map(|v| ("Appointment Type", *v)),
            );
        let items = vars
            .filter(|(service, _)| {
                self.ours(q)
                    && param(q, "service_name").is_none_or(|s| s.eq_ignore_ascii_case(service))
            })
            .map(|(service, value)| {
                let full = obj_of(json!({
                    "href": format!("{practice}/practice_variables"),
                    "practice_id": self.opts.practice_id,
                    "practice_href": practice,
                    "description": value,
                    "service_name": service,
                    "value": value,
                    "service_item": "",
                }));
                proj.apply(
                    &full,
                    fields::PRACTICE_VARIABLES,
                    fields::PRACTICE_VARIABLES_ALL,
                )
            })
            .collect();
        self.list("practice_variables", q, items)
    }

    fn writeback_status(&self, st: &State, q: &Params, knobs: &KnobState) -> Reply {
        let Some(id) = param(q, "id") else {
            return wire::missing_parameter("id");
        };
        let items: Vec<Value> = st
            .writebacks
            .iter()
            .filter(|w| w.id.to_string() == id)
            .map(|w| w.status_item(&self.opts.office_id))
            .collect();
        let reply = self.list("writeback_status", q, items);
        match (knobs.writeback_status_shape, reply.body) {
            (WritebackStatusShape::Array, Some(body)) => Reply {
                body: Some(Value::Array(vec![body])),
                ..reply
            },
            (_, body) => Reply { body, ..reply },
        }
    }

    fn writebacks(&self, st: &State, q: &Params) -> Reply {
        let (Some(start), Some(end)) = (param(q, "startdate"), param(q, "enddate")) else {
            return wire::missing_parameter("startdate and enddate");
        };
        let (Some(start), Some(end)) = (parse_date(start), parse_date(end)) else {
            return wire::unprocessable("startdate and enddate must be yyyy-mm-dd");
        };
        if end < start || (end - start).get_days() > 7 {
            return wire::unprocessable(
                "Date range of startdate and enddate should not be greater than 7 days.",
            );
        }
        let items = st
            .writebacks
            .iter()
            .filter(|w| {
                let day = w.request_time.date();
                start <= day && day <= end && param(q, "id").is_none_or(|id| id == w.id.to_string())
            })
            .map(|w| w.list_item(&self.base_url, &self.opts.office_id))
            .collect();
        self.list("writebacks", q, items)
    }

    fn delete_writeback(&self, st: &mut State, q: &Params) -> Reply {
        let Some(id) = param(q, "id") else {
            return wire::missing_parameter("id");
        };
        let Some(at) = st.writebacks.iter().position(|w| w.id.to_string() == id) else {
            return wire::not_found();
        };
        if st.writebacks[at].outcome.is_some() {
            return wire::unprocessable("Only a pending writeback request can be deleted.");
        }
        st.writebacks.remove(at);
        wire::message(
            200,
            "API4006",
            "",
            "Writeback request deleted successfully.",
            "",
        )
    }

    /// Validates a write, answers 412 when asked to check an offline agent, and queues it.
    fn write(&self, st: &mut State, knobs: &KnobState, body: &[u8], kind: WriteKind) -> Reply {
        let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
            return wire::invalid_parameter("The body must be a JSON object");
        };
        let get = |k: &str| text(&b, k);
        let require = |keys: &[&str]| {
            keys.iter()
                .find(|k| get(k).is_none())
                .map(|k| wire::missing_parameter(k))
        };
        let formats = |keys: &[&str]| -> Option<Reply> {
            for k in keys {
                let Some(v) = get(k) else { continue };
                let ok = match *k {
                    "date" | "birthdate" => parse_date(&v).is_some(),
                    "time" => parse_time(&v).is_some(),
                    "length" => parse_length(&v).is_some(),
                    "gender" => ["male", "female", "unknown"].contains(&v.to_lowercase().as_str()),
                    _ => true,
                };
                if !ok {
                    return Some(wire::unprocessable(&format!("{k} is invalid")));
                }
            }
            None
        };
        if let Some(p) = get("practice_id")
            && p != self.opts.practice_id
        {
            return wire::unprocessable(&format!("practice_id {p} does not exist"));
        }
        let (op, method, api) = match kind {
            WriteKind::Book => {
                let required = [
                    "patient_id",
                    "date",
                    "time",
                    "description",
                    "provider_id",
                    "length",
                    "operatory",
                    "practice_id",
                ];
                if let Some(r) = require(&required).or_else(|| formats(&["date", "time", "length"]))
                {
                    return r;
                }
                (Op::Book, "POST", "appointment")
            }
            WriteKind::Update(sr_no) => {
                if let Some(r) = require(&["practice_id", "provider_id"]) {
                    return r;
                }
                if ["date", "time", "length", "operatory", "status"]
                    .iter()
                    .all(|k| get(k).is_none())
                {
                    return wire::missing_parameter("one of date, time, length, operatory, status");
                }
                if let Some(r) = formats(&["date", "time", "length"]) {
                    return r;
                }
                (Op::Update(sr_no.to_owned()), "PUT", "appointments")
            }
            WriteKind::SetStatus(sr_no) => {
                if let Some(r) = require(&["op", "path", "value", "practice_id"]) {
                    return r;
                }
                if get("op").as_deref() != Some("replace") {
                    return wire::unprocessable("op must be replace");
                }
                if !matches!(
                    get("path").as_deref(),
                    Some("/appointment_status" | "/status")
                ) {
                    return wire::unprocessable("path must be /appointment_status");
                }
                (Op::SetStatus(sr_no.to_owned()), "PATCH", "appointments")
            }
            WriteKind::CreatePatient => {
                if let Some(r) = require(&["firstname", "lastname", "provider_id", "practice_id"])
                    .or_else(|| formats(&["birthdate", "gender"]))
                {
                    return r;
                }
                if self.opts.reject_duplicate_patients {
                    let birth = get("birthdate").and_then(|d| parse_date(&d));
                    let (first, last) = (
                        get("firstname").unwrap_or_default(),
                        get("lastname").unwrap_or_default(),
                    );
                    if st.db.patients.iter().any(|p| {
                        p.firstname.eq_ignore_ascii_case(&first)
                            && p.lastname.eq_ignore_ascii_case(&last)
                            && p.birthdate == birth
                    }) {
                        return wire::duplicate();
                    }
                }
                (Op::CreatePatient, "POST", "patients")
            }
            WriteKind::UpdatePatient(id) => {
                let pms = self.opts.pms.to_lowercase();
                if !(pms.contains("orthotrac") || pms.contains("dolphin")) {
                    return wire::method_not_allowed(
                        "PATCH patient is available only for Orthotrac and Dolphin Management PMS",
                    );
                }
                if let Some(r) =
                    require(&["practice_id"]).or_else(|| formats(&["birthdate", "gender"]))
                {
                    return r;
                }
                let updatable = [
                    "firstname",
                    "middlename",
                    "lastname",
                    "preferred_name",
                    "birthdate",
                    "gender",
                    "provider_id",
                    "status",
                ];
                if updatable.iter().all(|k| get(k).is_none()) {
                    return wire::missing_parameter("at least one field to update");
                }
                (Op::UpdatePatient(id.to_owned()), "PATCH", "patient")
            }
        };
        let check_spu = get("check_spu").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if check_spu && !knobs.agent_online {
            return wire::agent_offline();
        }
        let id = st.next_writeback;
        st.next_writeback += 1;
        let created = matches!(op, Op::Book | Op::CreatePatient);
        let patient_update = matches!(op, Op::UpdatePatient(_));
        st.writebacks.push(Record {
            id,
            op,
            method,
            api,
            body: b.clone(),
            practice_id: self.opts.practice_id.clone(),
            request_time: writeback::now_stamp(&self.opts.clock),
            due: Instant::now() + knobs.writeback_delay,
            outcome: None,
        });
        lock(&self.counters).writebacks_accepted += 1;
        let (long, more) = (
            format!("Id:{id}"),
            format!("{}/writeback_status?id={id}", self.base_url),
        );
        if created {
            wire::message(
                201,
                "API2016",
                "New resource created successfully",
                &long,
                &more,
            )
        } else if patient_update {
            wire::message(
                200,
                "API0011",
                "Patient update request logged successfully",
                &long,
                &more,
            )
        } else {
            wire::message(
                200,
                "API0007",
                "Appointment status logged successfully",
                &long,
                &more,
            )
        }
    }
}

enum WriteKind<'a> {
    Book,
    Update(&'a str),
    SetStatus(&'a str),
    CreatePatient,
    UpdatePatient(&'a str),
}

fn obj_of(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
