//! The emulator's HTTP side: one poem endpoint that counts each request, delays it, injects the
//! faults the knobs ask for, rate-limits, and routes it to its handler: the credential endpoints
//! in [`keys`], the data reads in [`reads`], the support APIs in [`support`], the writes and writebacks in [`writes`]. Application
//! calls are checked here (`App-Id`/`App-Key`), every other call's request key through [`keys`].

mod keys;
mod reads;
mod support;
mod writes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::http::HeaderMap;
use poem::{Endpoint, Request, Response};
use serde_json::Value;
use tokio::time::Instant;

use super::knobs::{Counters, KnobState};
use super::seed::Db;
use super::wire::{self, Projection, Reply, page};
use super::writeback::{self, FIRST_WRITEBACK_ID, Record};
use super::{SikkaOptions, lock};
use writes::{WriteKind, apply_due};

type Params = HashMap<String, String>;

pub(super) struct State {
    db: Db,
    keys: keys::Keys,
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
            sync_status: None,
            spc_error: None,
            office_unlisted: false,
            failing_paths: Default::default(),
        };
        let keys = keys::Keys::new(&opts.office_id, &opts.secret_key);
        Self {
            opts,
            base_url,
            state: Mutex::new(State {
                db,
                keys,
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

    pub(super) fn reset_rate_window(&self) {
        let mut st = lock(&self.state);
        st.window_start = Instant::now();
        st.window_count = 0;
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
            let fault = if k.failing_paths.contains(&path) {
                Some(wire::overloaded())
            } else if k.fail_next > 0 {
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
                    .unwrap_or_else(|| self.authorized_practices(&st, q));
            }
            ("DELETE", ["refresh_key"]) => {
                return self
                    .app(h)
                    .unwrap_or_else(|| self.delete_refresh_key(&mut st, h));
            }
            ("GET", ["writebacks"]) => {
                return self.app(h).unwrap_or_else(|| self.writebacks(&st, q));
            }
            ("GET", ["health_check"]) => {
                return self.app(h).unwrap_or_else(|| self.health_check(q, knobs));
            }
            ("GET", ["data_sync_status"]) => {
                return self
                    .app(h)
                    .unwrap_or_else(|| self.data_sync_status(q, knobs));
            }
            ("DELETE", ["writebacks"]) => {
                return self
                    .app(h)
                    .unwrap_or_else(|| self.delete_writeback(&mut st, q));
            }
            _ => {}
        }
        // Everything else is called with a request key.
        let expires = match self.request_key(&mut st, method, &segs, h, q) {
            Ok(expires) => expires,
            Err(reply) => return reply,
        };
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

    /// Whether a call's `practice_id` filter (if any) names the emulated practice.
    fn ours(&self, q: &Params) -> bool {
        param(q, "practice_id").is_none_or(|p| p == self.opts.practice_id)
    }
}
