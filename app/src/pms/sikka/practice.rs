//! [`SikkaPractice`]: one practice reached through Sikka, implementing [`PracticeSystem`]. Every
//! port call has one deadline (`call_timeout`) covering its pages, retries and a token renewal;
//! a call refused for its key (`API1025`, 401) is renewed and repeated once. Slow-changing reads
//! (providers, operatories, schedule, the cancel status, the practice's `cust_id`) are cached
//! with a TTL and loaded single-flight. Writes return a pending [`Writeback`].

use std::sync::Arc;

use async_trait::async_trait;
use jiff::civil::{Date, DateTime};
use moka::future::Cache;
use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::CredentialStore;
use super::client::SikkaClient;
use super::convert;
use super::error::SikkaError;
use super::limiter::Limiter;
use super::schedule;
use super::tokens::Tokens;
use super::transport::{Answer, Auth, Call};
use super::wire::{
    AppointmentItem, AppointmentStatusItem, Message, OperatoryItem, PatientItem, PracticeItem,
    PracticeVariableItem, ProviderItem, ScheduleItem,
};
use super::writes;
use crate::pms::{
    AccountId, Appointment, AppointmentId, NewAppointment, NewPatient, OfficeId, OpenBlock,
    Operatory, Patient, PatientId, PatientQuery, PatientUpdate, Phi, PmsError, PmsResult,
    PracticeSystem, Provider, Reschedule, Writeback, WritebackId,
};

/// Who the practice is at Sikka, and per-practice options.
#[derive(Debug, Clone)]
pub struct SikkaPracticeConfig {
    pub account: AccountId,
    pub office_id: OfficeId,
    /// Sikka's `practice_id` (`"1"`, `"1-0"`): opaque.
    pub practice_id: String,
    /// `practice_management_system` from `authorized_practices` (`Dentrix`, `Orthotrac`, …).
    pub pms: String,
    /// The appointment status cancellations are written with; `None` resolves it from
    /// `practice_variables` (`Appointment Status`).
    pub cancel_status: Option<String>,
}

impl SikkaPracticeConfig {
    pub fn new(
        account: AccountId,
        office_id: OfficeId,
        practice_id: impl Into<String>,
        pms: impl Into<String>,
    ) -> Self {
        Self {
            account,
            office_id,
            practice_id: practice_id.into(),
            pms: pms.into(),
            cancel_status: None,
        }
    }

    /// Only Orthotrac and Dolphin accept `PATCH /patient`.
    pub fn can_edit_patients(&self) -> bool {
        let pms = self.pms.to_ascii_lowercase();
        pms.contains("orthotrac") || pms.contains("dolphin")
    }
}

struct Caches {
    providers: Cache<(), Arc<Vec<Provider>>>,
    operatories: Cache<(), Arc<Vec<Operatory>>>,
    schedule: Cache<(), Arc<Vec<ScheduleItem>>>,
    cancel_status: Cache<(), Arc<Option<String>>>,
    cust_id: Cache<(), Arc<String>>,
}

pub struct SikkaPractice {
    client: SikkaClient,
    config: SikkaPracticeConfig,
    tokens: Tokens,
    limiter: Limiter,
    caches: Caches,
    /// Bookings sent whose answer never came.
    lost: super::lost::LostBookings,
}

fn cache<V: Clone + Send + Sync + 'static>(ttl: std::time::Duration) -> Cache<(), V> {
    Cache::builder().max_capacity(1).time_to_live(ttl).build()
}

/// Keeps the items of this practice; when none carries its id (`"1"` vs `"1-0"`), keeps all.
fn for_practice<T>(items: Vec<T>, practice_id: &str, of: impl Fn(&T) -> Option<&str>) -> Vec<T> {
    if items.iter().any(|i| of(i) == Some(practice_id)) {
        items
            .into_iter()
            .filter(|i| of(i).is_none_or(|p| p == practice_id))
            .collect()
    } else {
        items
    }
}

/// Converts items, skipping (and logging, without values) those the domain cannot use.
fn convert_all<I, T>(items: Vec<I>, f: impl Fn(I) -> Result<T, convert::BadItem>) -> Vec<T> {
    items
        .into_iter()
        .filter_map(|i| {
            f(i).map_err(|e| tracing::warn!(error = %e, "sikka item skipped"))
                .ok()
        })
        .collect()
}

impl SikkaPractice {
    /// Renews the practice's key under `leases` (one renewal across the tasks sharing them).
    pub fn with_refresh_leases(self, leases: Arc<dyn crate::state::Leases>) -> Self {
        Self {
            tokens: self.tokens.with_leases(leases),
            ..self
        }
    }

    pub fn new(
        client: SikkaClient,
        config: SikkaPracticeConfig,
        store: Arc<dyn CredentialStore>,
    ) -> Self {
        let c = client.config();
        let tokens = Tokens::new(
            config.account.clone(),
            config.office_id.clone(),
            store,
            c.token_margin,
        );
        let limiter = Limiter::new(c.requests_per_minute);
        let caches = Caches {
            providers: cache(c.cache_ttl),
            operatories: cache(c.cache_ttl),
            schedule: cache(c.cache_ttl),
            cancel_status: cache(c.cache_ttl),
            cust_id: cache(c.cache_ttl),
        };
        Self {
            client,
            config,
            tokens,
            limiter,
            caches,
            lost: Default::default(),
        }
    }

    pub fn config(&self) -> &SikkaPracticeConfig {
        &self.config
    }

    /// The application's client (its support calls, for the practice doctor).
    pub fn client(&self) -> &SikkaClient {
        &self.client
    }

    /// A request key good for at least the renewal margin: the stored one, or one minted now.
    /// For the practice doctor; calls use theirs as they go.
    pub async fn request_key_check(&self) -> Result<(), SikkaError> {
        self.tokens
            .current(&self.client, self.deadline())
            .await
            .map(|_| ())
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.client.config().call_timeout
    }

    /// One call with the practice's request key, renewed and repeated once when refused.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Answer, SikkaError> {
        let key = self.tokens.current(&self.client, deadline).await?;
        let send = |secret| {
            let call = Call {
                method: method.clone(),
                path,
                query,
                auth: Auth::RequestKey(secret),
                body,
            };
            async move {
                self.client
                    .transport()
                    .send(&call, &self.limiter, deadline)
                    .await
            }
        };
        match send(&key.secret).await {
            Err(e) if e.wants_new_key() => {
                tracing::info!(account = %self.config.account, error = %e, "sikka refused the request key; renewing");
                let fresh = self
                    .tokens
                    .renew(&self.client, key.generation, deadline)
                    .await?;
                send(&fresh.secret).await
            }
            other => other,
        }
    }

    /// Every page of a list read.
    async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&'static str, String)],
        deadline: Instant,
    ) -> Result<Vec<T>, SikkaError> {
        self.client
            .walk(|mut query| {
                query.extend_from_slice(filters);
                async move { self.call(Method::GET, path, &query, None, deadline).await }
            })
            .await
    }

    async fn cached<V, F>(cache: &Cache<(), V>, load: F) -> Result<V, SikkaError>
    where
        V: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = Result<V, SikkaError>>,
    {
        cache
            .try_get_with((), load)
            .await
            .map_err(|e: Arc<SikkaError>| (*e).clone())
    }

    async fn cust_id(&self, deadline: Instant) -> Result<Arc<String>, SikkaError> {
        Self::cached(&self.caches.cust_id, async {
            let practices: Vec<PracticeItem> = self.list("practices", &[], deadline).await?;
            let ours = practices
                .iter()
                .find(|p| p.practice_id.as_deref() == Some(self.config.practice_id.as_str()))
                .or(practices.first())
                .and_then(|p| p.cust_id.clone())
                .ok_or_else(|| SikkaError::Protocol("no cust_id in /practices".into()))?;
            Ok(Arc::new(ours))
        })
        .await
    }

    async fn schedule(&self, deadline: Instant) -> Result<Arc<Vec<ScheduleItem>>, SikkaError> {
        Self::cached(&self.caches.schedule, async {
            let rows: Vec<ScheduleItem> = self
                .list(
                    "practice_schedule",
                    &[("fields", "get_all".into())],
                    deadline,
                )
                .await?;
            let rows = for_practice(rows, &self.config.practice_id, |r| r.practice_id.as_deref());
            Ok(Arc::new(rows))
        })
        .await
    }

    /// The status this practice's cancellations are written with: the override, else the
    /// `Appointment Status` practice variable (or `/appointment_statuses` value) that says
    /// cancelled, else one that says broken.
    async fn cancel_status(&self, deadline: Instant) -> Result<Arc<Option<String>>, SikkaError> {
        if let Some(fixed) = &self.config.cancel_status {
            return Ok(Arc::new(Some(fixed.clone())));
        }
        // A definitive refusal (not in the plan, not found) is cached as "unknown"; only
        // passing faults are asked again.
        let definitive = |r: Result<Vec<_>, SikkaError>| match r {
            Err(e) if says_no(&e) => {
                tracing::info!(error = %e, "appointment statuses unavailable");
                Ok(Vec::new())
            }
            other => other,
        };
        Self::cached(&self.caches.cancel_status, async {
            let vars: Vec<PracticeVariableItem> = definitive(
                self.list(
                    "practice_variables",
                    &[("service_name", "Appointment Status".into())],
                    deadline,
                )
                .await,
            )?;
            let mut values: Vec<String> = vars
                .into_iter()
                .filter(|v| {
                    v.service_name
                        .as_deref()
                        .is_none_or(|s| s.eq_ignore_ascii_case("appointment status"))
                })
                .filter_map(|v| v.value)
                .collect();
            if pick_cancel_status(&values).is_none() {
                let statuses: Vec<AppointmentStatusItem> =
                    match self.list("appointment_statuses", &[], deadline).await {
                        Err(e) if says_no(&e) => Vec::new(),
                        other => other?,
                    };
                values.extend(statuses.into_iter().filter_map(|s| s.status));
            }
            Ok(Arc::new(pick_cancel_status(&values)))
        })
        .await
    }

    /// The cancel status for reading statuses: a failure to learn it must not fail the read.
    async fn cancel_status_for_reads(&self, deadline: Instant) -> Option<String> {
        match self.cancel_status(deadline).await {
            Ok(status) => (*status).clone(),
            Err(e) => {
                tracing::debug!(error = %e, "cancel status unknown; reading statuses by name only");
                None
            }
        }
    }

    async fn appointments(
        &self,
        filters: &[(&'static str, String)],
        deadline: Instant,
    ) -> Result<Vec<Appointment>, SikkaError> {
        let mut query = vec![("fields", "get_all".to_owned())];
        query.extend_from_slice(filters);
        let items: Vec<AppointmentItem> = self.list("appointments", &query, deadline).await?;
        let cancel = self.cancel_status_for_reads(deadline).await;
        Ok(convert_all(items, |i| {
            convert::appointment(i, cancel.as_deref())
        }))
    }

    async fn patients(
        &self,
        filters: &[(&'static str, String)],
        deadline: Instant,
    ) -> Result<Vec<Patient>, SikkaError> {
        let mut query = vec![("fields", "get_all".to_owned())];
        query.extend_from_slice(filters);
        let items: Vec<PatientItem> = self.list("patients", &query, deadline).await?;
        Ok(convert_all(items, convert::patient))
    }

    /// Patients whose numbers, however the PMS stored them, include `phone`. PMSs store what
    /// the front desk typed (`(303) 555-0175`, `720.555.0192`, `+17205550121`, in the cell, home
    /// or work field) and Sikka's filters compare the stored text, so no one shape finds
    /// everyone: the candidates are the union of Sikka's free-text `search` on the last four
    /// digits (which covers every field and format) and the documented `xxx-xxx-xxxx` shape in
    /// each phone field (for a server whose search leaves phones out), each compared locally as
    /// normalised numbers. Four requests, whoever is found; never stops at the first shape.
    async fn patients_by_phone(
        &self,
        phone: &crate::pms::E164,
        deadline: Instant,
    ) -> Result<Vec<Patient>, SikkaError> {
        let dashed = writes::pms_phone(phone);
        let queries = [
            ("search", phone.last_four().to_owned()),
            ("cell", dashed.clone()),
            ("homephone", dashed.clone()),
            ("workphone", dashed),
        ];
        let mut found: Vec<Patient> = Vec::new();
        for query in queries {
            let candidates = match self.patients(&[query], deadline).await {
                Ok(candidates) => candidates,
                // A server that does not know a filter has nothing for it.
                Err(e) if says_no(&e) => continue,
                Err(e) => return Err(e),
            };
            for patient in candidates {
                if patient.phones.expose().contains(phone)
                    && !found.iter().any(|p| p.id == patient.id)
                {
                    found.push(patient);
                }
            }
        }
        Ok(found)
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> PmsResult<Writeback> {
        Ok(self.send_write(method, path, body).await?)
    }

    /// Sends a write; Sikka's writeback, or why not.
    async fn send_write(
        &self,
        method: Method,
        path: &str,
        body: serde_json::Value,
    ) -> Result<Writeback, SikkaError> {
        let answer = self
            .call(method, path, &[], Some(&body), self.deadline())
            .await?;
        let message: Message = answer.json()?;
        let code = message.error_code.as_deref().unwrap_or("");
        if matches!(code, "API0008") {
            return Err(SikkaError::Invalid { code: code.into() });
        }
        let accepted = convert::accepted(&message).ok_or_else(|| {
            SikkaError::Protocol(format!("write accepted ({code}) without a writeback id"))
        })?;
        tracing::info!(account = %self.config.account, path, writeback = %accepted.id, "sikka write queued");
        Ok(accepted)
    }
}

/// Whether Sikka answered for good that it has no such data for this practice.
fn says_no(e: &SikkaError) -> bool {
    matches!(
        e,
        SikkaError::NotInPlan
            | SikkaError::NotFound
            | SikkaError::NoContent
            | SikkaError::Invalid { .. }
    )
}

/// The first value that says cancelled, else the first that says broken.
pub(crate) fn pick_cancel_status(values: &[String]) -> Option<String> {
    let says = |w: &str| values.iter().find(|v| v.to_ascii_lowercase().contains(w));
    says("cancel").or_else(|| says("broken")).cloned()
}

fn names_match(wanted: Option<&Phi<String>>, have: &[Option<&Phi<String>>]) -> bool {
    let Some(wanted) = wanted.map(|w| w.expose().trim()) else {
        return true;
    };
    have.iter()
        .flatten()
        .any(|h| h.expose().trim().eq_ignore_ascii_case(wanted))
}

#[async_trait]
impl PracticeSystem for SikkaPractice {
    fn kind(&self) -> &'static str {
        "sikka"
    }

    fn sikka(&self) -> Option<&SikkaPractice> {
        Some(self)
    }

    async fn providers(&self) -> PmsResult<Vec<Provider>> {
        let deadline = self.deadline();
        let providers = Self::cached(&self.caches.providers, async {
            let items: Vec<ProviderItem> = self.list("providers", &[], deadline).await?;
            let items = for_practice(items, &self.config.practice_id, |p| {
                p.practice_id.as_deref()
            });
            Ok(Arc::new(convert_all(items, convert::provider)))
        })
        .await?;
        Ok((*providers).clone())
    }

    async fn operatories(&self) -> PmsResult<Vec<Operatory>> {
        let deadline = self.deadline();
        let operatories = Self::cached(&self.caches.operatories, async {
            let cust_id = self.cust_id(deadline).await?;
            let items: Vec<OperatoryItem> = self
                .list("operatories", &[("cust_id", (*cust_id).clone())], deadline)
                .await?;
            let items = for_practice(items, &self.config.practice_id, |o| {
                o.practice_id.as_deref()
            });
            Ok(Arc::new(convert_all(items, convert::operatory)))
        })
        .await?;
        Ok((*operatories).clone())
    }

    async fn open_blocks(&self, date: Date) -> PmsResult<Vec<OpenBlock>> {
        let rows = self.schedule(self.deadline()).await?;
        Ok(schedule::open_blocks(&rows, date))
    }

    async fn appointments_between(
        &self,
        from: DateTime,
        to: DateTime,
    ) -> PmsResult<Vec<Appointment>> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last_day = to
            .checked_sub(jiff::Span::new().nanoseconds(1))
            .map_or(to.date(), |t| t.date());
        let filters = [
            ("startdate", from.date().to_string()),
            ("enddate", last_day.to_string()),
        ];
        let all = self.appointments(&filters, self.deadline()).await?;
        Ok(all
            .into_iter()
            .filter(|a| a.start >= from && a.start < to)
            .collect())
    }

    async fn appointments_for_patient(&self, patient: &PatientId) -> PmsResult<Vec<Appointment>> {
        let filters = [("patient_id", patient.as_str().to_owned())];
        let all = self.appointments(&filters, self.deadline()).await?;
        Ok(all
            .into_iter()
            .filter(|a| &a.patient_id == patient)
            .collect())
    }

    async fn appointment(&self, id: &AppointmentId) -> PmsResult<Appointment> {
        let filters = [("appointment_sr_no", id.as_str().to_owned())];
        self.appointments(&filters, self.deadline())
            .await?
            .into_iter()
            .find(|a| &a.id == id)
            .ok_or(PmsError::NotFound)
    }

    async fn find_patients(&self, query: &PatientQuery) -> PmsResult<Vec<Patient>> {
        let deadline = self.deadline();
        let found = if let Some(phone) = &query.phone {
            self.patients_by_phone(phone, deadline).await?
        } else {
            let mut filters = Vec::new();
            if let Some(first) = &query.first_name {
                filters.push(("firstname", first.expose().trim().to_owned()));
            }
            if let Some(last) = &query.last_name {
                filters.push(("lastname", last.expose().trim().to_owned()));
            }
            if filters.is_empty() {
                return Err(PmsError::Rejected(
                    "a phone number or a name is needed to find a patient".into(),
                ));
            }
            self.patients(&filters, deadline).await?
        };
        Ok(found
            .into_iter()
            .filter(|p| {
                names_match(
                    query.first_name.as_ref(),
                    &[Some(&p.first_name), p.preferred_name.as_ref()],
                ) && names_match(query.last_name.as_ref(), &[Some(&p.last_name)])
                    && query
                        .birth_date
                        .as_ref()
                        .is_none_or(|b| p.birth_date.as_ref() == Some(b))
            })
            .collect())
    }

    async fn patient(&self, id: &PatientId) -> PmsResult<Patient> {
        self.patients(&[("patient_id", id.as_str().to_owned())], self.deadline())
            .await?
            .into_iter()
            .find(|p| &p.id == id)
            .ok_or(PmsError::NotFound)
    }

    async fn book(&self, appointment: NewAppointment) -> PmsResult<Writeback> {
        let body = writes::book(&self.config.practice_id, &appointment);
        match self.send_write(Method::POST, "appointment", body).await {
            // Sikka may have taken it: pending until it shows among the patient's appointments.
            Err(SikkaError::AnswerLost) => {
                tracing::warn!(account = %self.config.account, "the answer to a booking was lost; following it as pending");
                Ok(self.lost.remember(&appointment))
            }
            answered => {
                let writeback = answered?;
                if writeback.state == crate::pms::WritebackState::Pending {
                    self.lost.track(&writeback.id, &appointment);
                }
                Ok(writeback)
            }
        }
    }

    async fn reschedule(&self, id: &AppointmentId, to: Reschedule) -> PmsResult<Writeback> {
        let body = writes::reschedule(&self.config.practice_id, &to);
        self.write(Method::PUT, &format!("appointments/{id}"), body)
            .await
    }

    async fn cancel(&self, id: &AppointmentId, note: Option<Phi<String>>) -> PmsResult<Writeback> {
        let status = self.cancel_status(self.deadline()).await?;
        let Some(status) = status.as_deref() else {
            return Err(PmsError::Misconfigured(
                "no cancellation status known for this practice's PMS; set the cancel status override"
                    .into(),
            ));
        };
        let note = note.as_ref().map(|n| n.expose().as_str());
        let body = writes::cancel(&self.config.practice_id, id, status, note);
        self.write(Method::PATCH, &format!("appointments/{id}"), body)
            .await
    }

    async fn create_patient(&self, patient: NewPatient) -> PmsResult<Writeback> {
        let body = writes::new_patient(&self.config.practice_id, &patient);
        self.write(Method::POST, "patient", body).await
    }

    async fn update_patient(&self, id: &PatientId, update: PatientUpdate) -> PmsResult<Writeback> {
        if !self.config.can_edit_patients() {
            return Err(PmsError::Unsupported("updating patient details"));
        }
        if update.phone.is_some() || update.email.is_some() {
            return Err(PmsError::Unsupported("updating a patient's phone or email"));
        }
        let Some(name) = update.preferred_name else {
            return Err(PmsError::Rejected("there is nothing to update".into()));
        };
        let body = writes::edit_patient(&self.config.practice_id, name.expose());
        self.write(Method::PATCH, &format!("patient/{id}"), body)
            .await
    }

    async fn writeback(&self, id: &WritebackId) -> PmsResult<Writeback> {
        let sent = self.lost.get(id);
        if let Some(lost) = sent
            .as_ref()
            .filter(|_| super::lost::LostBookings::is_lost(id))
        {
            let theirs = self.appointments_for_patient(&lost.patient).await?;
            let state = match theirs.iter().find(|a| lost.is(a)) {
                Some(applied) => {
                    self.lost.forget(id);
                    crate::pms::WritebackState::Applied {
                        created_id: Some(applied.id.to_string()),
                    }
                }
                None => crate::pms::WritebackState::Pending,
            };
            return Ok(Writeback {
                id: id.clone(),
                state,
            });
        }
        let query = [("id", id.as_str().to_owned())];
        let answer = self
            .call(
                Method::GET,
                "writeback_status",
                &query,
                None,
                self.deadline(),
            )
            .await?;
        if answer.is_empty() {
            return Err(PmsError::NotFound);
        }
        let body: serde_json::Value = answer.json()?;
        let mut status = convert::writeback_status(&body, id).ok_or(PmsError::NotFound)?;
        if let Some(booking) = &sent {
            match &status.state {
                crate::pms::WritebackState::Pending => {}
                crate::pms::WritebackState::Applied { .. } => self.lost.forget(id),
                crate::pms::WritebackState::Failed { .. } => {
                    // Refused as a clash with the same patient's appointment at that very time
                    // and provider: that appointment is this booking (sent twice).
                    let theirs = self.appointments_for_patient(&booking.patient).await?;
                    if let Some(same) = theirs.iter().find(|a| booking.is(a)) {
                        status.state = crate::pms::WritebackState::Applied {
                            created_id: Some(same.id.to_string()),
                        };
                    }
                    self.lost.forget(id);
                }
            }
        }
        Ok(status)
    }

    /// Forgets the cached providers, operatories, schedule, cancel status and `cust_id`, and the
    /// loaded credentials (re-read from the store on the next call).
    async fn refresh(&self) {
        let c = &self.caches;
        c.providers.invalidate_all();
        c.operatories.invalidate_all();
        c.schedule.invalidate_all();
        c.cancel_status.invalidate_all();
        c.cust_id.invalidate_all();
        self.tokens.forget().await;
        tracing::debug!(account = %self.config.account, "sikka practice caches cleared");
    }
}
