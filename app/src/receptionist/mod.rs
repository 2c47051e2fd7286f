//! The receptionist: what each tool does for a caller, and the life of one tool call, on this
//! screen — [`Receptionist::answer`] resolves the practice, answers a repeated `toolCallId` from
//! memory, runs the tool within its budget, and [`Receptionist::finish`] makes the audit entry
//! durable before the answer leaves.
//!
//! - `tool.rs`: the tools, their typed requests and argument parsers;
//! - `tools/`: each tool's work, beside its request type;
//! - `outcome.rs`: what a tool produced, and what its audit entry says;
//! - `idempotency.rs`: one answer per tool call and one write per business key;
//! - `writebacks/`: the write ledger, waiting for a write and settling it later;
//! - `verify.rs`: who the caller is; `slots.rs`: free times; `words.rs`: how things are said;
//! - `control.rs`: live call control (a transfer); `hours.rs`: the practice's opening hours;
//!   `messages.rs`: messages taken for the front desk; `texts.rs`: confirmations and messages by
//!   text.

pub mod control;
pub mod hours;
pub(crate) mod idempotency;
pub mod messages;
mod outcome;
pub mod slots;
#[cfg(test)]
mod tests;
pub mod texts;
pub mod tool;
pub mod tools;
pub(crate) mod verify;
pub mod words;
mod writebacks;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

pub use idempotency::{CallScope, WriteKey};
pub use outcome::Outcome;
pub use tool::{ArgError, Identity, Tool, ToolRequest};
pub use verify::{MemorySessions, Verdict};
pub use writebacks::{
    APPLIED_HOLD, CLAIM_TTL, Claim, Following, LedgerEntry, MemoryLedger, WriteLedger,
};

use crate::{
    audit::{AuditActor, AuditEvent, AuditOutcome, AuditSink},
    clock::Clock,
    config::ReceptionistSettings,
    pms::{AccountId, E164, PatientId},
    practices::{Binding, Practice, PracticeDirectory, PracticeKey},
    state::{Begun, Remembered, Sessions, StateStores, ToolCalls},
};
use idempotency::Flights;
use tools::Ctx;
use writebacks::Writebacks;

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

/// The words when the audit trail cannot be written: nothing is disclosed without it.
pub const AUDIT_DOWN: &str = "The system could not record this request securely, so nothing was done. Apologise and offer to try again in a moment or to transfer the caller.";

/// The words when the shared state (the ledger, slot holds, remembered answers) cannot be
/// reached: no write is made without it.
pub const STATE_DOWN: &str = "The booking records are unavailable right now, so nothing was changed in the practice's system. Apologise and offer to try again in a moment or to transfer the caller.";

/// The words when a write's intent could not be recorded: the practice's system was not asked.
pub const WRITE_NOT_RECORDED: &str = "The system could not record this change securely, so the practice's system was not changed. Apologise and offer to try again in a moment or to transfer the caller.";

/// A tool call's answer, and the outcome its audit entry recorded (`None`: no entry could be
/// made, so the answer says so).
struct Finished {
    answer: Result<String, String>,
    audited: Option<AuditOutcome>,
}

impl Finished {
    /// The `Outcome` dimension of the tool-call metrics.
    fn metric(&self) -> &'static str {
        match self.audited {
            Some(AuditOutcome::Success) => "success",
            Some(AuditOutcome::Denied) => "denied",
            Some(AuditOutcome::Failed) => "failed",
            Some(AuditOutcome::Pending) => "pending",
            Some(AuditOutcome::Intent) => "intent",
            None => "unaudited",
        }
    }
}

tokio::task_local! {
    /// Set once a tool's write has been sent to the practice's system (see `intend`).
    static WRITE_SENT: Arc<AtomicBool>;
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
    /// `call.monitor.controlUrl`, as the request gave it (checked before any use).
    pub control_url: Option<String>,
}

impl CallInfo {
    /// This call at `account`: what verifications are remembered under.
    pub fn session<'a>(&'a self, account: &'a AccountId) -> verify::SessionScope<'a> {
        verify::SessionScope {
            account,
            call_id: self.call_id.as_deref(),
        }
    }

    /// This call's caller at `account`: what a `toolCallId` is unique within.
    fn scope(&self, account: &AccountId) -> CallScope {
        CallScope {
            account: account.clone(),
            call_id: self.call_id.clone(),
            caller: self.caller.clone(),
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

pub struct Receptionist {
    directory: Arc<dyn PracticeDirectory>,
    audit: Arc<dyn AuditSink>,
    settings: ReceptionistSettings,
    /// Verified callers, by practice and call.
    sessions: Arc<dyn Sessions>,
    /// Answers already given, by call and `toolCallId`.
    calls: Arc<dyn ToolCalls>,
    /// Writes' tool calls being answered by this task.
    flights: Flights,
    /// The ledger of writes, waiting for them and settling them.
    writebacks: Writebacks,
    /// Live call control (transfers).
    control: control::CallControl,
    /// Messages taken for the front desk.
    messages: Arc<dyn messages::MessageStore>,
    /// Texts: confirmations to patients who agreed, messages to the staff.
    texts: Arc<texts::Texts>,
}

impl Receptionist {
    pub fn new(
        directory: Arc<dyn PracticeDirectory>,
        audit: Arc<dyn AuditSink>,
        state: StateStores,
        settings: ReceptionistSettings,
    ) -> Self {
        let texts = Arc::new(texts::Texts::new(
            settings.twilio.clone().map(crate::sms::TwilioClient::new),
            state.consents,
            audit.clone(),
            settings.clock,
        ));
        let writebacks = Writebacks::new(
            state.ledger,
            state.leases,
            audit.clone(),
            directory.clone(),
            texts.clone(),
            &settings,
        );
        Self {
            writebacks,
            control: control::CallControl::new(settings.control_allow_http_loopback),
            messages: state.messages,
            texts,
            directory,
            audit,
            settings,
            sessions: state.sessions,
            calls: state.calls,
            flights: Flights::default(),
        }
    }

    /// Starts settling pending writes in the background, this task's and any other's.
    pub fn settle_in_background(&self) {
        self.writebacks.settle_in_background();
    }

    /// The gateway's clock.
    pub fn clock(&self) -> Clock {
        self.settings.clock
    }

    pub fn audit(&self) -> &Arc<dyn AuditSink> {
        &self.audit
    }

    /// The messages taken for the front desk.
    pub fn messages(&self) -> &dyn messages::MessageStore {
        self.messages.as_ref()
    }

    /// Texting, and the consents it follows.
    pub fn texts(&self) -> &Arc<texts::Texts> {
        &self.texts
    }

    /// Now at `practice`, in its time zone.
    pub(crate) fn now_at(&self, practice: &Practice) -> jiff::ZonedDateTime {
        practice.profile.now(&self.settings.clock)
    }

    /// The practice a call is bound to, or what to tell the assistant when the directory fails.
    pub async fn practice(&self, key: &PracticeKey) -> Result<Binding, String> {
        self.directory.resolve(key).await.map_err(|e| {
            tracing::error!(error = %e, "practice directory failed");
            "The practice directory is unavailable right now. Apologise and offer to try again in a moment.".to_owned()
        })
    }

    /// Answers one tool call within `budget` (at most the tool budget; what is left of the
    /// request's). `Ok` is Vapi's `result`, `Err` its `error`. Never fails otherwise. Counted
    /// in the metrics by tool and the outcome its audit entry records, with its latency.
    pub async fn answer(
        self: &Arc<Self>,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        request: Result<ToolRequest, ArgError>,
        budget: Duration,
    ) -> Result<String, String> {
        let started = std::time::Instant::now();
        let finished = self
            .answer_audited(call, tool, tool_call_id, request, budget)
            .await;
        crate::metrics::global().tool_call(tool.name(), finished.metric(), started.elapsed());
        finished.answer
    }

    async fn answer_audited(
        self: &Arc<Self>,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        request: Result<ToolRequest, ArgError>,
        budget: Duration,
    ) -> Finished {
        let practice = match self.practice(&call.practice).await {
            Ok(Binding::Bound(practice)) => practice,
            Ok(Binding::NotSetUp) => {
                let refused = Outcome::denied(NOT_SET_UP, "practice not set up for this line");
                return self.finish(call, tool, None, refused).await;
            }
            Ok(Binding::Disagrees) => {
                let refused = Outcome::denied(
                    NOT_THIS_PRACTICE,
                    "metadata account id disagrees with the practice bound to the call",
                );
                return self.finish(call, tool, None, refused).await;
            }
            Err(words) => {
                let failed = Outcome::failed(words, "practice directory unavailable", Vec::new());
                return self.finish(call, tool, None, failed).await;
            }
        };
        let account = &practice.profile.account_id;
        // One answer per write: a copy that arrives while the first is being answered waits
        // for it, then finds its answer remembered. Reads are answered afresh (never
        // remembered, so never looked up).
        let (mut flight, previous) = if tool.writes() {
            let scope = call.scope(account);
            let flight = self.flights.one_at_a_time(&scope, tool_call_id).await;
            match self.begin(&scope, tool_call_id, budget).await {
                Ok(previous) => (Some(flight), previous),
                Err(refused) => return self.finish(call, tool, Some(account), refused).await,
            }
        } else {
            (None, None)
        };
        if let Some(previous) = previous {
            // The same answer again, and the disclosure audited again.
            let again = Outcome {
                answer: previous.answer.clone(),
                audit: previous.audit,
                patients: previous.patients.clone(),
                reason: Some("repeated toolCallId: the earlier answer was given again".into()),
                remember: false,
            };
            return self.finish(call, tool, Some(account), again).await;
        }
        let outcome = match request {
            Err(err) => Outcome::failed(
                err.to_string(),
                format!("invalid argument {}", err.field),
                Vec::new(),
            ),
            Ok(_) if budget.is_zero() => Outcome::failed(
                OUT_OF_TIME,
                "request budget spent before this call",
                Vec::new(),
            ),
            Ok(request) => {
                let budget = budget.min(self.settings.tool_budget);
                let flight = &mut flight;
                self.run_within(&practice, call, tool_call_id, request, budget, flight)
                    .await
            }
        };
        self.finish_and_remember(call, tool, tool_call_id, account, outcome)
            .await
    }

    /// Starts answering a write's tool call: its earlier answer, if it had one (a copy being
    /// answered by another task is waited for). `Err`: the shared memory of answers is down,
    /// and no write is made without it.
    async fn begin(
        &self,
        scope: &CallScope,
        tool_call_id: &str,
        budget: Duration,
    ) -> Result<Option<Arc<Remembered>>, Outcome> {
        if tool_call_id.is_empty() {
            return Ok(None);
        }
        // Long enough for a write finishing in the background after its budget.
        let lease = self.settings.tool_budget * 2 + Duration::from_secs(10);
        let begun = self.calls.begin(scope, tool_call_id, lease);
        match tokio::time::timeout(budget, begun).await {
            Ok(Ok(Begun::First)) => Ok(None),
            Ok(Ok(Begun::Answered(previous))) => Ok(Some(previous)),
            // Its first copy is still being answered elsewhere.
            Err(_) => Err(Outcome {
                remember: false,
                ..Outcome::pending(WRITE_STILL_RUNNING, Vec::new())
            }
            .because("a copy of this tool call is still being answered by another task")),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "remembered answers unavailable; not writing");
                Err(Outcome::failed(
                    STATE_DOWN,
                    "shared state unavailable: the tool call could not be claimed",
                    Vec::new(),
                ))
            }
        }
    }

    /// Runs the tool in a task of its own, for at most `budget`. A read still running then is
    /// dropped and the caller hears that the system did not answer in time. A write already sent
    /// is never cancelled: it finishes in the background, where its outcome is audited and
    /// remembered under the tool call id (a retry hears it), while the caller hears it is
    /// pending; its copies wait for it (`flight`).
    async fn run_within(
        self: &Arc<Self>,
        practice: &Arc<Practice>,
        call: &CallInfo,
        tool_call_id: &str,
        request: ToolRequest,
        budget: Duration,
        flight: &mut Option<idempotency::Flight>,
    ) -> Outcome {
        let tool = request.tool();
        let sent = Arc::new(AtomicBool::new(false));
        let mut task = {
            let (desk, practice, call) = (self.clone(), practice.clone(), call.clone());
            tokio::spawn(WRITE_SENT.scope(sent.clone(), async move {
                let cx = Ctx {
                    desk: &desk,
                    practice: &practice,
                    call: &call,
                };
                request.run(&cx).await
            }))
        };
        match tokio::time::timeout(budget, &mut task).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panicked)) => {
                tracing::error!(error = %panicked, tool = tool.name(), "a tool call failed");
                Outcome::failed(
                    "Something went wrong on our side. Apologise, and offer to try again or to transfer the caller.",
                    "the tool's task failed",
                    Vec::new(),
                )
            }
            Err(_) if !sent.load(Ordering::SeqCst) => {
                task.abort();
                Outcome::failed(
                    "The practice's system did not answer in time. Apologise, and offer to try again or to transfer the caller.",
                    "tool budget exceeded",
                    Vec::new(),
                )
            }
            Err(_) => {
                let (desk, call, id) = (self.clone(), call.clone(), tool_call_id.to_owned());
                let account = practice.profile.account_id.clone();
                let flight = flight.take();
                tokio::spawn(async move {
                    let _flight = flight;
                    let Ok(outcome) = task.await else { return };
                    let _ = desk
                        .finish_and_remember(&call, tool, &id, &account, outcome)
                        .await;
                });
                // Audited like any answer; not remembered, so a retry hears the outcome.
                Outcome {
                    remember: false,
                    ..Outcome::pending(WRITE_STILL_RUNNING, Vec::new())
                }
                .because("budget spent while the write was under way; finishing in the background")
            }
        }
    }

    /// [`Self::finish`], then remembers a write's answer under its tool call id, so a repeat
    /// cannot write twice and hears what really happened. Reads are answered afresh.
    async fn finish_and_remember(
        &self,
        call: &CallInfo,
        tool: Tool,
        tool_call_id: &str,
        account: &AccountId,
        outcome: Outcome,
    ) -> Finished {
        let (remember, audit, patients) =
            (outcome.remember, outcome.audit, outcome.patients.clone());
        let finished = self.finish(call, tool, Some(account), outcome).await;
        if !tool.writes() || tool_call_id.is_empty() {
            return finished;
        }
        let scope = call.scope(account);
        let stored = if remember && finished.audited.is_some() {
            let remembered = Remembered {
                answer: finished.answer.clone(),
                audit,
                patients,
            };
            self.calls.finish(&scope, tool_call_id, remembered).await
        } else if audit == AuditOutcome::Pending {
            // Still being written in the background, which remembers the outcome.
            Ok(())
        } else {
            self.calls.abandon(&scope, tool_call_id).await
        };
        if let Err(e) = stored {
            tracing::warn!(error = %e, "an answer could not be remembered for its toolCallId");
        }
        finished
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
        let finished = self
            .finish(call, tool, None, Outcome::denied(words, reason))
            .await;
        crate::metrics::global().tool_call(tool.name(), finished.metric(), Duration::ZERO);
        finished.answer
    }

    /// Writes the audit entry, durably, then releases the answer.
    async fn finish(
        &self,
        call: &CallInfo,
        tool: Tool,
        account: Option<&AccountId>,
        outcome: Outcome,
    ) -> Finished {
        let audit = outcome.audit;
        // A write the practice's system took (its intent was audited before it was sent) was
        // done: the caller must not hear that nothing was.
        let written =
            tool.writes() && matches!(outcome.audit, AuditOutcome::Success | AuditOutcome::Pending);
        let event = AuditEvent {
            action: tool.action(),
            outcome: outcome.audit,
            resource: tool.name().to_owned(),
            account_id: account.cloned(),
            actor: call.actor(),
            patient_ids: outcome.patients,
            request_id: call.request_id.clone(),
            source_ip: call.source_ip.clone(),
            reason: outcome.reason,
        };
        match self.audit.record(event).await {
            Ok(_) => Finished {
                answer: outcome.answer,
                audited: Some(audit),
            },
            Err(e) => {
                tracing::error!(error = %e, tool = tool.name(), "audit entry could not be made durable");
                let words = if written {
                    AUDIT_DOWN_AFTER_WRITE
                } else {
                    AUDIT_DOWN
                };
                Finished {
                    answer: Err(words.to_owned()),
                    audited: None,
                }
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
    ) -> Result<(), Outcome> {
        let event = AuditEvent {
            action: tool.action(),
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
                Err(Outcome::failed(
                    WRITE_NOT_RECORDED,
                    "not written: the intent could not be audited",
                    patients.to_vec(),
                ))
            }
        }
    }

    /// Polls each of the practice's pending writebacks once, now (the practice's system just
    /// said its appointments changed), and settles those it reports applied or failed. Returns
    /// how many settled.
    pub async fn settle_pending(&self, account: &AccountId) -> usize {
        match self.directory.by_account(account).await {
            Ok(Some(practice)) => self.writebacks.settle_pending(&practice).await,
            Ok(None) => 0,
            Err(e) => {
                tracing::warn!(error = %e, "practice directory failed while settling writebacks");
                0
            }
        }
    }
}
