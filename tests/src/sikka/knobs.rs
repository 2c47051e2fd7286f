//! What a test can change while the emulator runs, and what it can read back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::server::Shared;
use super::{WritebackStatusShape, lock};

/// Runtime settings and one-shot faults, read on every request.
#[derive(Debug, Clone)]
pub(super) struct KnobState {
    pub latency: Duration,
    pub fail_next: u32,
    pub throttle_next: u32,
    pub throttle_reset_secs: u64,
    pub agent_online: bool,
    pub writeback_delay: Duration,
    pub writebacks_fail: Option<String>,
    pub rate_limit_per_minute: u32,
    pub writeback_status_shape: WritebackStatusShape,
    /// Writes whose answer is lost: accepted and queued, then no answer until the client gives up.
    pub lose_next_write_answers: u32,
    /// `data_sync_status`'s status instead of `refresh` (`not_refresh`, `not refresh`).
    pub sync_status: Option<String>,
    /// `health_check`'s `spc_error_description` (with `spc_error_flag: "True"`).
    pub spc_error: Option<String>,
    /// The office is missing from `health_check` and `data_sync_status`.
    pub office_unlisted: bool,
    /// Paths (`/v4/appointments`) that answer HTTP 503 `API2002` until cleared.
    pub failing_paths: std::collections::BTreeSet<String>,
}

/// What the emulator has seen.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Requests by `(METHOD, path)`, path without the query (`("GET", "/v4/patients")`),
    /// counted before any fault or check.
    pub requests: BTreeMap<(String, String), u64>,
    /// Successful `grant_type=request_key` grants.
    pub request_key_grants: u64,
    /// The office of each successful `grant_type=request_key` grant, in order.
    pub granted_offices: Vec<String>,
    /// Successful `grant_type=refresh_key` grants.
    pub refresh_grants: u64,
    /// Writebacks accepted (201/200 answers to writes).
    pub writebacks_accepted: u64,
}

impl Counters {
    /// Requests to `path` (e.g. `/v4/patients`) with any method.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((_, p), _)| p == path)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// The handle tests use to inject faults and read counters. Cheap to clone.
#[derive(Clone)]
pub struct Knobs {
    shared: Arc<Shared>,
}

impl Knobs {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn set(&self, f: impl FnOnce(&mut KnobState)) {
        f(&mut lock(&self.shared.knobs));
    }

    /// Every answer is delayed by `latency` (before any other processing).
    pub fn set_latency(&self, latency: Duration) {
        self.set(|k| k.latency = latency);
    }

    /// The next `n` writes are accepted and queued as usual, but their answers are lost: the
    /// connection hangs until the client gives up (as when it drops after Sikka took the write).
    pub fn lose_next_write_answers(&self, n: u32) {
        self.set(|k| k.lose_next_write_answers = n);
    }

    /// The next `n` requests answer HTTP 503 `API2002` (the API is overloaded).
    pub fn fail_next(&self, n: u32) {
        self.set(|k| k.fail_next = n);
    }

    /// Every request to `path` (`/v4/appointments`, `/v4/health_check`) answers HTTP 503
    /// `API2002` while `failing` (an endpoint down, whatever the retries).
    pub fn set_path_failing(&self, path: &str, failing: bool) {
        self.set(|k| {
            if failing {
                k.failing_paths.insert(path.to_owned());
            } else {
                k.failing_paths.remove(path);
            }
        });
    }

    /// The practice's Sikka agent (SPC) has not synced: `data_sync_status` answers `status`
    /// (`not_refresh`, or the documented sample's `not refresh`) and its last data is 30 hours
    /// old. `None`: `refresh`, ten minutes ago.
    pub fn set_sync_status(&self, status: Option<&str>) {
        self.set(|k| k.sync_status = status.map(str::to_owned));
    }

    /// `Some(description)`: `health_check` reports an SPC error (`spc_error_flag: "True"`).
    pub fn set_spc_error(&self, description: Option<&str>) {
        self.set(|k| k.spc_error = description.map(str::to_owned));
    }

    /// The office is not listed by `health_check` nor `data_sync_status`.
    pub fn set_office_unlisted(&self, unlisted: bool) {
        self.set(|k| k.office_unlisted = unlisted);
    }

    /// The next `n` requests answer HTTP 429 with `X-Rate-Limit-Remaining: 0` and
    /// `X-Rate-Limit-Reset: reset_secs`.
    pub fn throttle_next(&self, n: u32, reset_secs: u64) {
        self.set(|k| {
            k.throttle_next = n;
            k.throttle_reset_secs = reset_secs;
        });
    }

    /// The practice's sync agent (SPU) online or not. Offline: writes with `check_spu: "true"`
    /// answer 412 `API2017`, other writes are accepted and stay pending until it is back.
    pub fn set_agent_online(&self, online: bool) {
        self.set(|k| k.agent_online = online);
    }

    /// Every request key issued so far expires now: calls with it answer 400 `API1025`.
    /// Refresh keys stay valid.
    pub fn expire_request_keys(&self) {
        self.shared.expire_all_keys();
    }

    /// Another office authorizes the application with `secret_key` (or an authorized office's
    /// secret changes): it is listed by `GET /authorized_practices` after the others, and
    /// `POST /request_key` grants keys for it. Its data is the emulated practice's.
    pub fn authorize_office(&self, office_id: &str, secret_key: &str) {
        self.shared.authorize_office(office_id, secret_key);
    }

    /// The office withdraws its authorization of the application: it is no longer listed, and
    /// a grant for it, a refresh of its keys and a call made with its keys answer 401 `API2007`.
    pub fn withdraw_office(&self, office_id: &str) {
        self.shared.withdraw_office(office_id);
    }

    /// Every request key and refresh key issued so far (to check none of them leaks).
    pub fn issued_keys(&self) -> Vec<String> {
        self.shared.issued_keys()
    }

    /// How long after acceptance later writebacks are applied.
    pub fn set_writeback_delay(&self, delay: Duration) {
        self.set(|k| k.writeback_delay = delay);
    }

    /// `Some(reason)`: every writeback applied from now on fails with `has_error: "True"` and
    /// `result: reason`. `None`: writebacks succeed unless the data says otherwise.
    pub fn set_writebacks_fail(&self, reason: Option<&str>) {
        self.set(|k| k.writebacks_fail = reason.map(str::to_owned));
    }

    /// Requests allowed per 60-second window; the current window starts over.
    pub fn set_rate_limit(&self, per_minute: u32) {
        self.set(|k| k.rate_limit_per_minute = per_minute);
        self.shared.reset_rate_window();
    }

    pub fn set_writeback_status_shape(&self, shape: WritebackStatusShape) {
        self.set(|k| k.writeback_status_shape = shape);
    }

    /// Applies every queued writeback now (if the agent is online), ignoring the delay.
    pub fn apply_writebacks_now(&self) {
        self.shared.apply_writebacks_now();
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        lock(&self.shared.counters).clone()
    }

    /// Requests to `path` (`/v4/patients`) with any method.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.counters().requests_to(path)
    }

    pub fn request_key_grants(&self) -> u64 {
        self.counters().request_key_grants
    }

    /// The office of each successful `grant_type=request_key` grant, in order.
    pub fn granted_offices(&self) -> Vec<String> {
        self.counters().granted_offices
    }

    pub fn refresh_grants(&self) -> u64 {
        self.counters().refresh_grants
    }

    /// Zeroes the counters.
    pub fn reset_counters(&self) {
        *lock(&self.shared.counters) = Counters::default();
    }

    /// Writebacks accepted but not yet applied.
    pub fn pending_writebacks(&self) -> usize {
        self.shared.pending_writebacks()
    }
}
