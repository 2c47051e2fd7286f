//! A Sikka ONE API v4 emulator: an HTTP server on `127.0.0.1:0`, run on the test's tokio
//! runtime, that speaks what Sikka's documentation says (Sikka's v4 API guide and its Postman
//! collections; the collections win, and the documented examples it must match are committed in
//! `tests/data/sikka/examples.json`) so the gateway's Sikka adapter can be driven black-box.
//!
//! ```no_run
//! # async fn demo() {
//! use gateway_tests::sikka::{SikkaEmulator, SikkaOptions};
//! let sikka = SikkaEmulator::start(SikkaOptions::default()).await;
//! let base = sikka.base_url(); // "http://127.0.0.1:PORT/v4"
//! sikka.knobs().fail_next(2); // the next two requests answer 503 API2002
//! sikka.stop().await;
//! # }
//! ```
//!
//! What it speaks:
//! - base path `/v4`; header names case-insensitive; every number in JSON is a string;
//! - the list envelope (`offset` is a page number, default limit 50, max 5000, `next` empty on the
//!   last page) and HTTP 204 with an empty body when nothing matches;
//! - the message/error envelope with Sikka's codes; `Request-Key-Expires` on every answer to a
//!   call made with a request key; `X-Rate-Limit-*` on every answer and 429 over the limit;
//! - application calls (`App-Id`/`App-Key`), the offices that authorized the application (one,
//!   more through the knobs, each of which may withdraw), request/refresh keys, the data reads a
//!   receptionist needs, and writebacks queued and applied by a simulated sync agent.
//!
//! The practice is seeded from the gateway's sandbox fixture ([`gateway::pms::sandbox`]) for a
//! given `today`, so the same scenarios can run against the sandbox and against Sikka.

pub mod fields;
mod knobs;
mod seed;
mod server;
mod wire;
mod writeback;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gateway::pms::sandbox::{SandboxConfig, SeedPatient};
use jiff::civil::Date;

pub use knobs::{Counters, Knobs};
pub use seed::{
    APPOINTMENT_STATUSES, FIRST_APPOINTMENT_ID, STATUS_BROKEN, STATUS_CANCELLED, STATUS_COMPLETED,
    STATUS_CONFIRMED, STATUS_SCHEDULED, pms_phone,
};

/// The application credentials the emulator accepts unless told otherwise.
pub const DEFAULT_APP_ID: &str = "0f6c1e7a9b2d4c3e8a5f7b1d2c3e4f50";
pub const DEFAULT_APP_KEY: &str = "7d3b9e1f5a2c4d6e8f0a1b3c5d7e9f21";
/// The one authorized office.
pub const DEFAULT_OFFICE_ID: &str = "D36225";
pub const DEFAULT_SECRET_KEY: &str = "5e8a2c7f1b9d4e6a3c0f8b2d7e1a9c46";
pub const DEFAULT_PRACTICE_ID: &str = "1";
/// Sikka's `cust_id` for the practice (mandatory on `/operatories`).
pub const DEFAULT_CUST_ID: &str = "1";
pub const DEFAULT_PMS: &str = "Dentrix";

/// How `GET /writeback_status` wraps its answer. The documented example wraps the list envelope
/// in a JSON array; real clients have been seen reading a plain object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WritebackStatusShape {
    /// `[ {offset, …, items: [...]} ]`, as in Sikka's example.
    #[default]
    Array,
    /// `{offset, …, items: [...]}`.
    Object,
}

/// How the `cell`/`phone`/`homephone`/`workphone` filters of `/patients` compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhoneFilter {
    /// The filter value must equal the stored text (`310-555-0100`), as a database would.
    #[default]
    Exact,
    /// Only the last ten digits are compared (`+1 (310) 555-0100` finds `310-555-0100`).
    Digits,
}

#[derive(Debug, Clone)]
pub struct SikkaOptions {
    /// The practice-local "today" (America/Los_Angeles) the sandbox fixture is placed around.
    pub today: Date,
    pub app_id: String,
    pub app_key: String,
    pub office_id: String,
    pub secret_key: String,
    pub practice_id: String,
    pub cust_id: String,
    /// `practice_management_system` in `authorized_practices` (`Dentrix`, `Orthotrac`, …);
    /// `PATCH /patient/{id}` only works for Orthotrac and Dolphin.
    pub pms: String,
    /// How long a request key lives (Sikka: 24 hours).
    pub request_key_lifetime: Duration,
    /// How long after it is accepted a writeback is applied (changeable through the knobs).
    pub writeback_delay: Duration,
    /// Requests allowed per 60-second window (changeable through the knobs).
    pub rate_limit_per_minute: u32,
    pub writeback_status_shape: WritebackStatusShape,
    pub phone_filter: PhoneFilter,
    /// Refuse `POST /patient` at once (409 `API2013`) when a patient with the same first name,
    /// last name and birth date exists, as the sandbox does.
    pub reject_duplicate_patients: bool,
    /// Patients added after the fixture's (ids continue from 1051), as in [`SandboxConfig`].
    pub extra_patients: Vec<SeedPatient>,
    /// The emulator's clock (request key lifetimes, writeback stamps): the tests' clock.
    pub clock: gateway::clock::Clock,
    /// The weekly schedule instead of the sandbox fixture's, as `SANDBOX_SCHEDULE` gives the
    /// sandbox (served as a practice row and one row per provider).
    pub schedule: Option<gateway::pms::sandbox::WeeklySchedule>,
}

impl Default for SikkaOptions {
    fn default() -> Self {
        Self::for_today(SandboxConfig::practice_today(&crate::clock()))
    }
}

impl SikkaOptions {
    /// The defaults with the fixture placed around `today`.
    pub fn for_today(today: Date) -> Self {
        Self {
            today,
            app_id: DEFAULT_APP_ID.into(),
            app_key: DEFAULT_APP_KEY.into(),
            office_id: DEFAULT_OFFICE_ID.into(),
            secret_key: DEFAULT_SECRET_KEY.into(),
            practice_id: DEFAULT_PRACTICE_ID.into(),
            cust_id: DEFAULT_CUST_ID.into(),
            pms: DEFAULT_PMS.into(),
            request_key_lifetime: Duration::from_secs(24 * 60 * 60),
            writeback_delay: Duration::from_millis(200),
            rate_limit_per_minute: 250,
            writeback_status_shape: WritebackStatusShape::Array,
            phone_filter: PhoneFilter::Exact,
            reject_duplicate_patients: true,
            extra_patients: Vec::new(),
            clock: crate::clock(),
            schedule: None,
        }
    }
}

/// A running emulator. Dropping it stops the server; [`SikkaEmulator::stop`] waits for it.
pub struct SikkaEmulator {
    addr: SocketAddr,
    base_url: String,
    knobs: Knobs,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SikkaEmulator {
    /// Binds `127.0.0.1:0`, seeds the practice and serves on the current tokio runtime.
    pub async fn start(options: SikkaOptions) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Sikka emulator");
        let addr = listener.local_addr().expect("local address");
        let base_url = format!("http://{addr}/v4");
        let db = seed::Db::seed(&options);
        let shared = Arc::new(server::Shared::new(options, base_url.clone(), db));
        let knobs = Knobs::new(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).expect("acceptor");
        let endpoint = server::Emulator::new(shared);
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(
                    endpoint,
                    async move {
                        let _ = rx.await;
                    },
                    Some(Duration::from_secs(1)),
                )
                .await;
        });
        Self {
            addr,
            base_url,
            knobs,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:PORT/v4`: what the gateway is configured with instead of
    /// `https://api.sikkasoft.com/v4`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Fault injection, runtime settings and counters.
    pub fn knobs(&self) -> &Knobs {
        &self.knobs
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SikkaEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A poisoned lock is still usable: a panicking test thread must not hide the next failure.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
