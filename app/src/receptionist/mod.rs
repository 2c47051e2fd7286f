//! What each tool does: caller verification, availability, booking rules, idempotency, and the
//! words returned to the assistant. [`Receptionist::answer`] is the one entry point: it resolves
//! the practice, runs the tool within its budget, and makes the audit entry durable before the
//! answer leaves.

#[cfg(test)]
mod audit_after_write_tests;
pub mod availability;
mod ledger;
mod patients;
pub mod request;
mod scheduling;
mod settle;
mod verify;
pub mod words;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

pub use ledger::{AnswerCache, LedgerEntry, MemoryLedger, WriteLedger};
pub use request::{ArgError, Identity, Tool, ToolRequest};
pub use verify::{Sessions, Verdict};

use crate::{
    audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome, AuditSink},
    clock::Clock,
    pms::{AccountId, E164, PatientId, PmsError, Writeback, WritebackState},
    practices::{Binding, Practice, PracticeDirectory, PracticeKey},
};

/// The words for a line no practice is set up on.
pub const NOT_SET_UP: &str = "This phone line is not set up with a practice in our system yet, so I cannot look anything up. Apologise, and offer to transfer the caller to the office staff.";
/// The words when the assistant's metadata names another practice than the call is bound to.
pub const NOT_THIS_PRACTICE: &str = "The account named in the assistant's metadata does not belong to the phone line or assistant of this call, so nothing was looked up. Apologise, and offer to transfer the caller to the office staff.";
/// The words when a write was made but its outcome could not be recorded: it is not repeated,
/// and nothing of the patient's is disclosed.
pub const AUDIT_DOWN_AFTER_WRITE: &str = "The practice's system took this change, but our system could not record the outcome securely, so I cannot read back the details. Do not repeat the request; apologise and offer to transfer the caller so the office can confirm it.";
/// The words when the request's time ran out before a call could start.
pub const OUT_OF_TIME: &str = "There was not enough time left in this request to do this, so nothing was done. Call the tool again on its own.";
/// The words when a write was sent but its call's budget ran out before the practice's system
/// answered: it finishes in the background.
pub const WRITE_STILL_RUNNING: &str = "The request was sent to the practice's system, which has not confirmed it yet: it is pending. Tell the caller it is being processed and the office will confirm it; do not try it again.";

tokio::task_local! {
    /// Set once a tool's write has been sent to the practice's system (see `intend`).
    static WRITE_SENT: Arc<AtomicBool>;
}

/// The words when the audit trail cannot be written: nothing is disclosed without it.
pub const AUDIT_DOWN: &str = "The system could not record this request securely, so nothing was done. Apologise and offer to try again in a moment or to transfer the caller.";

/// The words when a write's intent could not be recorded: the practice's system was not asked.
pub const WRITE_NOT_RECORDED: &str = "The system could not record this change securely, so the practice's system was not changed. Apologise and offer to try again in a moment or to transfer the caller.";

#[derive(Debug, Clone)]
pub struct ReceptionistSettings {
    /// The whole budget of one tool call.
    pub tool_budget: Duration,
    /// How long a write waits to be applied before the answer says "pending".
    pub confirm_wait: Duration,
    /// How often a pending write is polled while the caller waits.
    pub poll_interval: Duration,
    /// How often a write still pending after the call is polled in the background, and for how long.
    pub settle_for: Duration,
    /// How many writeback questions per minute a practice's poller may ask in the background:
    /// a share of the practice's request budget, however many writes are pending.
    pub settle_polls_per_minute: u32,
    /// The gateway's one clock: every "now" the rules use.
    pub clock: Clock,
}

impl Default for ReceptionistSettings {
    fn default() -> Self {
        Self {
            tool_budget: Duration::from_secs(8),
            confirm_wait: Duration::from_millis(2500),
            poll_interval: Duration::from_millis(100),
            settle_polls_per_minute: 24,
            settle_for: Duration::from_secs(30 * 60),
            clock: Clock::system(),
        }
    }
}

/// Who is calling and about which practice, as the request (already authenticated) says.
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub call_id: Option<String>,
    pub org_id: Option<String>,
    /// The caller's number (caller id), when Vapi has one.
    pub caller: Option<E164>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
    pub practice: PracticeKey,
}

impl CallInfo {
    /// This call at `account`: what verifications are remembered under.
    pub fn scope<'a>(&'a self, account: &'a AccountId) -> verify::CallScope<'a> {
        verify::CallScope {
            account,
            call_id: self.call_id.as_deref(),
        }
    }

    pub fn actor(&self) -> AuditActor {
        AuditActor {
            kind: "vapi".into(),
            call_id: self.call_id.clone(),
            org_id: self.org_id.clone(),
            caller: self.caller.clone(),
        }
    }
}

/// A tool's result and what the audit entry says about it.
struct Done {
    answer: Result<String, String>,
    outcome: AuditOutcome,
    patients: Vec<PatientId>,
    reason: Option<String>,
    /// Whether a repeat of the same `toolCallId` may reuse this answer.
    remember: bool,
}

impl Done {
    fn ok(answer: impl Into<String>, patients: Vec<PatientId>) -> Self {
        Self {
            answer: Ok(answer.into()),
            outcome: AuditOutcome::Success,
            patients,
            reason: None,
            remember: true,
        }
    }

    fn pending(answer: impl Into<String>, patients: Vec<PatientId>) -> Self {
        Self {
            outcome: AuditOutcome::Pending,
            ..Self::ok(answer, patients)
        }
    }

    fn denied(answer: impl Into<String>, reason: &str) -> Self {
        Self {
            answer: Err(answer.into()),
            outcome: AuditOutcome::Denied,
            patients: Vec::new(),
            reason: Some(reason.into()),
            remember: false,
        }
    }

    fn failed(
        answer: impl Into<String>,
        reason: impl Into<String>,
        patients: Vec<PatientId>,
    ) -> Self {
        Self {
            answer: Err(answer.into()),
            outcome: AuditOutcome::Failed,
            patients,
            reason: Some(reason.into()),
            remember: false,
        }
    }

    fn pms(err: &PmsError, patients: Vec<PatientId>) -> Self {
        Self::failed(words::pms_failure(err), pms_reason(err), patients)
    }
}

fn pms_reason(err: &PmsError) -> String {
    match err {
        PmsError::NotFound => "not found".into(),
        PmsError::Unsupported(what) => format!("unsupported: {what}"),
        PmsError::Offline => "pms offline".into(),
        PmsError::Conflict => "conflict".into(),
        PmsError::Rejected(_) => "rejected by pms".into(),
        PmsError::RateLimited => "rate limited".into(),
        PmsError::Transient(_) => "pms unavailable".into(),
        PmsError::Misconfigured(_) => "pms misconfigured".into(),
    }
}

fn action_of(tool: Tool) -> AuditAction {
    match tool {
        Tool::BookAppointment | Tool::CreatePatient => AuditAction::Create,
        Tool::CancelAppointment | Tool::RescheduleAppointment | Tool::UpdatePatient => {
            AuditAction::Update
        }
        _ => AuditAction::Read,
    }
}

pub struct Receptionist {
    directory: Arc<dyn PracticeDirectory>,
    audit: Arc<dyn AuditSink>,
    ledger: Arc<dyn WriteLedger>,
    answers: AnswerCache,
    sessions: Sessions,
    settings: ReceptionistSettings,
    /// One booking decision at a time per practice (re-check, then write). Per task.
    booking_locks: Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<()>>>>,
    /// One background poller per practice for writes still pending after the call.
    pollers: settle::Pollers,
    /// Tool calls being answered, by scope and `toolCallId`: a second copy of one (Vapi
    /// retries a slow call) waits for the first and then hears its answer.
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Receptionist {
    /// The gateway's clock.
    pub fn clock(&self) -> Clock {
        self.settings.clock
    }

    /// Now at `practice`, in its time zone.
    pub(crate) fn now_at(&self, practice: &Practice) -> jiff::ZonedDateTime {
        practice.profile.now(&self.settings.clock)
    }

    pub fn new(
        directory: Arc<dyn PracticeDirectory>,
        audit: Arc<dyn AuditSink>,
        ledger: Arc<dyn WriteLedger>,
        settings: ReceptionistSettings,
    ) -> Self {
        let pollers = settle::Pollers::new(
            ledger.clone(),
            audit.clone(),
            settings.settle_polls_per_minute,
            settings.settle_for,
        );
        Self {
            directory,
            audit,
            ledger,
            answers: AnswerCache::default(),
            sessions: Sessions::default(),
            settings,
            booking_locks: Mutex::default(),
            pollers,
            in_flight: Mutex::default(),
        }
    }

    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    pub async fn practice(&self, key: &PracticeKey) -> Result<Binding, String> {
        self.directory.resolve(key).await.map_err(|e| {
            tracing::error!(error = %e, "practice directory failed");
            "The practice directory is unavailable right now. Apologise and offer to try again in a moment.".to_owned()
        })
    }

    /// Answers one tool call within `budget` (at most the tool budget; what is left of the
    /// request's). `Ok` is Vapi's `result`, `Err` its `error`. Never fails otherwise.
    pub async fn answer(
        self: &Arc<Self>,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        request: Result<ToolRequest, ArgError>,
        budget: Duration,
    ) -> Result<String, String> {
        let practice = match self.practice(&call.practice).await {
            Ok(Binding::Bound(practice)) => practice,
            Ok(Binding::NotSetUp) => {
                let done = Done::denied(NOT_SET_UP, "practice not set up for this line");
                return self.finish(call, tool, None, done).await.0;
            }
            Ok(Binding::Disagrees) => {
                let done = Done::denied(
                    NOT_THIS_PRACTICE,
                    "metadata account id disagrees with the practice bound to the call",
                );
                return self.finish(call, tool, None, done).await.0;
            }
            Err(words) => {
                let done = Done::failed(words, "practice directory unavailable", Vec::new());
                return self.finish(call, tool, None, done).await.0;
            }
        };
        // A repeated toolCallId within the same practice, call and caller gets the same answer.
        let scope = format!(
            "{}|{}|{}",
            practice.profile.account_id,
            call.call_id.as_deref().unwrap_or(""),
            call.caller.as_ref().map_or("", |c| c.as_str())
        );
        // One answer per write: a copy that arrives while the first is being answered waits
        // for it, then finds its answer remembered below. (Reads are answered afresh anyway.)
        let flight = (action_of(tool) != AuditAction::Read)
            .then(|| self.one_at_a_time(&scope, tool_call_id));
        let turn = match &flight {
            Some(flight) => Some(flight.lock().await),
            None => None,
        };
        let answered = self
            .answer_once(call, tool, tool_call_id, request, budget, &practice, &scope)
            .await;
        drop(turn);
        if let Some(flight) = flight {
            self.landed(&scope, tool_call_id, flight);
        }
        answered
    }

    /// The lock of one tool call (see `in_flight`).
    fn one_at_a_time(&self, scope: &str, tool_call_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        flights
            .entry(format!("{scope}|{tool_call_id}"))
            .or_default()
            .clone()
    }

    /// Forgets a tool call's lock once no other copy of the call holds or awaits it.
    fn landed(&self, scope: &str, tool_call_id: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and this one: nobody else is waiting.
        if Arc::strong_count(&flight) <= 2 {
            flights.remove(&format!("{scope}|{tool_call_id}"));
        }
    }

    /// [`Self::answer`] for the one copy of a tool call being answered.
    #[allow(clippy::too_many_arguments)]
    async fn answer_once(
        self: &Arc<Self>,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        request: Result<ToolRequest, ArgError>,
        budget: Duration,
        practice: &Arc<Practice>,
        scope: &str,
    ) -> Result<String, String> {
        let scope = scope.to_owned();
        if let Some(previous) = self.answers.get(&scope, tool_call_id) {
            // The same answer again, and the disclosure audited again.
            let done = Done {
                answer: previous.answer.clone(),
                outcome: previous.outcome,
                patients: previous.patients.clone(),
                reason: Some("repeated toolCallId: the earlier answer was given again".into()),
                remember: false,
            };
            return self
                .finish(call, tool, previous.account.as_ref(), done)
                .await
                .0;
        }
        let done = match request {
            Err(err) => Done::failed(
                err.to_string(),
                format!("invalid argument {}", err.field),
                Vec::new(),
            ),
            Ok(_) if budget.is_zero() => Done::failed(
                OUT_OF_TIME,
                "request budget spent before this call",
                Vec::new(),
            ),
            Ok(request) => {
                let budget = budget.min(self.settings.tool_budget);
                self.run_within(practice, call, tool, tool_call_id, &scope, request, budget)
                    .await
            }
        };
        let (remember, outcome, patients) = (done.remember, done.outcome, done.patients.clone());
        let account = practice.profile.account_id.clone();
        let (answer, audited) = self.finish(call, tool, Some(&account), done).await;
        // Reads are answered afresh; writes are remembered so a repeat cannot write twice.
        if remember && audited && action_of(tool) != AuditAction::Read {
            let remembered = ledger::Remembered {
                answer: answer.clone(),
                outcome,
                patients,
                account: Some(account),
            };
            self.answers.put(&scope, tool_call_id, remembered);
        }
        answer
    }

    /// Runs the tool in a task of its own, for at most `budget`. A read still running then is
    /// dropped and the caller hears that the system did not answer in time. A write already sent
    /// is never cancelled: it finishes in the background, where its outcome is audited and
    /// remembered under the tool call id (a retry hears it), while the caller hears it is
    /// pending.
    #[allow(clippy::too_many_arguments)]
    async fn run_within(
        self: &Arc<Self>,
        practice: &Arc<Practice>,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        scope: &str,
        request: ToolRequest,
        budget: Duration,
    ) -> Done {
        let sent = Arc::new(AtomicBool::new(false));
        let mut task = {
            let (this, practice, call) = (self.clone(), practice.clone(), call.clone());
            tokio::spawn(WRITE_SENT.scope(sent.clone(), async move {
                this.run(&practice, &call, request).await
            }))
        };
        match tokio::time::timeout(budget, &mut task).await {
            Ok(Ok(done)) => done,
            Ok(Err(panicked)) => {
                tracing::error!(error = %panicked, tool = tool.name(), "a tool call failed");
                Done::failed(
                    "Something went wrong on our side. Apologise, and offer to try again or to transfer the caller.",
                    "the tool's task failed",
                    Vec::new(),
                )
            }
            Err(_) if !sent.load(Ordering::SeqCst) => {
                task.abort();
                Done::failed(
                    "The practice's system did not answer in time. Apologise, and offer to try again or to transfer the caller.",
                    "tool budget exceeded",
                    Vec::new(),
                )
            }
            Err(_) => {
                let this = self.clone();
                let late = (call.clone(), scope.to_owned(), tool_call_id.to_owned());
                let account = practice.profile.account_id.clone();
                tokio::spawn(async move {
                    let Ok(done) = task.await else { return };
                    let (call, scope, id) = late;
                    this.settle_late(&call, tool, &id, &scope, account, done)
                        .await;
                });
                // Audited like any answer; not remembered, so a retry hears the outcome.
                Done {
                    reason: Some(
                        "budget spent while the write was under way; finishing in the background"
                            .into(),
                    ),
                    remember: false,
                    ..Done::pending(WRITE_STILL_RUNNING, Vec::new())
                }
            }
        }
    }

    /// A write that outlived its call's budget has finished: audit its outcome and remember its
    /// answer under the tool call id, so a retry of the call hears what really happened.
    async fn settle_late(
        &self,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        scope: &str,
        account: AccountId,
        done: Done,
    ) {
        let (outcome, patients) = (done.outcome, done.patients.clone());
        let (answer, audited) = self.finish(call, tool, Some(&account), done).await;
        if audited {
            let remembered = ledger::Remembered {
                answer,
                outcome,
                patients,
                account: Some(account),
            };
            self.answers.put(scope, tool_call_id, remembered);
        }
    }

    /// Refuses a call before it reaches its tool (say, the body names another tool than the
    /// route): audited as denied, answered with `words` as the call's `error`.
    pub async fn deny(
        &self,
        call: &CallInfo,
        tool: Tool,
        words: String,
        reason: &str,
    ) -> Result<String, String> {
        self.finish(call, tool, None, Done::denied(words, reason))
            .await
            .0
    }

    /// Writes the audit entry, durably, then releases the answer.
    async fn finish(
        &self,
        call: &CallInfo,
        tool: Tool,
        account: Option<&AccountId>,
        done: Done,
    ) -> (Result<String, String>, bool) {
        let event = AuditEvent {
            action: action_of(tool),
            outcome: done.outcome,
            resource: tool.name().to_owned(),
            account_id: account.cloned(),
            actor: call.actor(),
            patient_ids: done.patients,
            request_id: call.request_id.clone(),
            source_ip: call.source_ip.clone(),
            reason: done.reason,
        };
        // A write the practice's system took (its intent was audited before it was sent) was
        // done: the caller must not hear that nothing was.
        let written = action_of(tool) != AuditAction::Read
            && matches!(done.outcome, AuditOutcome::Success | AuditOutcome::Pending);
        match self.audit.record(event).await {
            Ok(_) => (done.answer, true),
            Err(e) => {
                tracing::error!(error = %e, tool = tool.name(), "audit entry could not be made durable");
                let words = if written {
                    AUDIT_DOWN_AFTER_WRITE
                } else {
                    AUDIT_DOWN
                };
                (Err(words.to_owned()), false)
            }
        }
    }

    /// Records, durably, that `tool` is about to write to the practice's system; the outcome
    /// follows as its own entry. `Err` is the answer when it cannot be recorded, and then the
    /// write must not be attempted.
    async fn intend(
        &self,
        practice: &Practice,
        call: &CallInfo,
        tool: Tool,
        patients: &[PatientId],
    ) -> Result<(), Done> {
        let event = AuditEvent {
            action: action_of(tool),
            outcome: AuditOutcome::Intent,
            resource: tool.name().to_owned(),
            account_id: Some(practice.profile.account_id.clone()),
            actor: call.actor(),
            patient_ids: patients.to_vec(),
            request_id: call.request_id.clone(),
            source_ip: call.source_ip.clone(),
            reason: Some("about to write to the practice's system".into()),
        };
        match self.audit.record(event).await {
            Ok(_) => {
                // From here the write is under way: a budget that runs out no longer cancels it.
                let _ = WRITE_SENT.try_with(|sent| sent.store(true, Ordering::SeqCst));
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, tool = tool.name(), "the intent of a write could not be audited; not writing");
                Err(Done::failed(
                    WRITE_NOT_RECORDED,
                    "not written: the intent could not be audited",
                    patients.to_vec(),
                ))
            }
        }
    }

    async fn run(&self, practice: &Arc<Practice>, call: &CallInfo, request: ToolRequest) -> Done {
        match request {
            ToolRequest::CheckAvailability {
                date,
                length_minutes,
                provider,
                part_of_day,
                limit,
            } => {
                self.check_availability(
                    practice,
                    date,
                    length_minutes,
                    provider,
                    part_of_day,
                    limit,
                )
                .await
            }
            ToolRequest::BookAppointment {
                identity,
                date,
                time,
                length_minutes,
                provider,
                reason,
            } => {
                self.book(
                    practice,
                    call,
                    &identity,
                    date.to_datetime(time),
                    length_minutes,
                    provider,
                    reason,
                )
                .await
            }
            ToolRequest::CancelAppointment {
                identity,
                appointment,
                reason,
            } => {
                self.cancel(practice, call, &identity, &appointment, reason)
                    .await
            }
            ToolRequest::RescheduleAppointment {
                identity,
                appointment,
                date,
                time,
                provider,
            } => {
                self.reschedule(
                    practice,
                    call,
                    &identity,
                    &appointment,
                    date.to_datetime(time),
                    provider,
                )
                .await
            }
            ToolRequest::GetAppointments { identity } => {
                self.appointments(practice, call, &identity).await
            }
            ToolRequest::SearchPatients { identity } => {
                self.search_patients(practice, call, &identity).await
            }
            ToolRequest::GetPatientInfo { identity } => {
                self.patient_info(practice, call, &identity).await
            }
            ToolRequest::CreatePatient {
                first_name,
                last_name,
                birth_date,
                phone,
                email,
            } => {
                self.create_patient(
                    practice, call, first_name, last_name, birth_date, phone, email,
                )
                .await
            }
            ToolRequest::UpdatePatient {
                identity,
                phone,
                email,
                preferred_name,
            } => {
                self.update_patient(practice, call, &identity, phone, email, preferred_name)
                    .await
            }
            ToolRequest::ListProviders => self.list_providers(practice).await,
            ToolRequest::TransferToHuman { .. } => match self.transfer_destination(practice) {
                Ok(number) => Done::ok(
                    format!(
                        "Transfer the caller to the front desk now: tell them you are connecting them, then transfer the call to {}.",
                        number.as_str()
                    ),
                    Vec::new(),
                ),
                Err(words) => Done::failed(words, "no transfer number configured", Vec::new()),
            },
        }
    }

    /// Where a caller goes when they ask for a person.
    pub fn transfer_destination(&self, practice: &Practice) -> Result<E164, String> {
        practice.profile.transfer_number.clone().ok_or_else(|| {
            format!(
                "{} has no transfer number set up, so the call cannot be transferred. Apologise, offer to take a message for the office, or suggest calling back during office hours.",
                practice.profile.name
            )
        })
    }

    /// Verifies the caller for a patient-scoped tool.
    async fn verified(
        &self,
        practice: &Practice,
        call: &CallInfo,
        identity: &Identity,
    ) -> Result<crate::pms::Patient, Done> {
        match verify::verify(
            practice.pms.as_ref(),
            &self.sessions,
            call.scope(&practice.profile.account_id),
            call.caller.as_ref(),
            identity,
        )
        .await
        {
            Ok(Verdict::Verified(patient)) => Ok(*patient),
            Ok(verdict) => Err(Done::denied(verdict.refusal(), "caller not verified")),
            Err(err) => Err(Done::pms(&err, Vec::new())),
        }
    }

    fn booking_lock(&self, account: &AccountId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.booking_locks.lock().expect("booking locks poisoned");
        locks.entry(account.clone()).or_default().clone()
    }

    /// Waits, within the confirm budget, for a write to be applied.
    async fn settle_now(&self, practice: &Practice, writeback: Writeback) -> Writeback {
        let deadline = tokio::time::Instant::now() + self.settings.confirm_wait;
        let mut current = writeback;
        loop {
            if current.state != WritebackState::Pending {
                return current;
            }
            match practice.pms.writeback(&current.id).await {
                Ok(next) if next.state != WritebackState::Pending => return next,
                Ok(next) => current = next,
                Err(err) => tracing::warn!(error = %err, "writeback status unavailable"),
            }
            if tokio::time::Instant::now() + self.settings.poll_interval > deadline {
                return current;
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// Keeps following a write that was still pending when the caller got the answer (the
    /// practice's poller settles it; see [`settle`]).
    fn settle_later(
        &self,
        practice: Arc<Practice>,
        call: &CallInfo,
        tool: Tool,
        writeback: Writeback,
        patient: PatientId,
    ) {
        let actor = AuditActor {
            kind: "system".into(),
            ..call.actor()
        };
        self.pollers
            .follow(practice, writeback.id, tool, actor, patient);
    }
}

impl Receptionist {
    /// Polls each of the practice's pending writebacks once, now (the practice's system just
    /// said its appointments changed), and settles those it reports applied or failed: ledger
    /// and audit, as when they settle after a call. Returns how many settled.
    pub async fn settle_pending(&self, account: &AccountId) -> usize {
        let pending = self.ledger.pending(account);
        if pending.is_empty() {
            return 0;
        }
        let practice = match self.directory.by_account(account).await {
            Ok(Some(practice)) => practice,
            Ok(None) => return 0,
            Err(e) => {
                tracing::warn!(error = %e, "practice directory failed while settling writebacks");
                return 0;
            }
        };
        let mut settled = 0;
        for (key, entry) in pending {
            let next = match practice.pms.writeback(&entry.writeback).await {
                Ok(next) if next.state != WritebackState::Pending => next,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "writeback status unavailable");
                    continue;
                }
            };
            let outcome = match &next.state {
                WritebackState::Applied { .. } => AuditOutcome::Success,
                _ => AuditOutcome::Failed,
            };
            let reference = match &next.state {
                WritebackState::Applied { created_id } => created_id.clone(),
                _ => None,
            };
            self.ledger
                .settle(account, &entry.writeback, next.state, reference);
            settled += 1;
            let tool = match key.split('|').next() {
                Some("book") => Tool::BookAppointment,
                Some("cancel") => Tool::CancelAppointment,
                Some("reschedule") => Tool::RescheduleAppointment,
                _ => Tool::CreatePatient,
            };
            let actor = AuditActor {
                kind: "system".into(),
                ..Default::default()
            };
            let settled = settle::Settled {
                account,
                tool,
                actor,
                patient: entry.patient,
                outcome,
                how: format!(
                    "writeback {} settled on the practice's appointments webhook",
                    entry.writeback
                ),
            };
            settled.audit(self.audit.as_ref()).await;
        }
        settled
    }
}
