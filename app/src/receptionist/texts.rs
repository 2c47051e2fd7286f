//! Texts to patients and to the front desk, through Twilio (`sms/`):
//! - **confirmations**: once the practice's system has *applied* a booking, reschedule or
//!   cancellation (during the call, or later when a pending write settles), the patient gets a
//!   text in the practice's name and time zone, with no clinical detail (no reason for the visit)
//!   — but only on the number they agreed to be texted on (`record_sms_consent`) and only while
//!   that number has not replied STOP;
//! - **front-desk messages**: a message taken by `take_message` is texted to the practice's
//!   staff number, when it has one.
//!
//! A text is sent in the background: whatever Twilio answers, the caller's answer is the same.
//! Every attempt that had a consented recipient is audited (`notify`: sent, refused by Twilio,
//! or not sent because the number opted out) and counted (`sms::COUNTS`); neither the number nor
//! the words reach the audit trail or a log line.

use std::sync::{Arc, atomic::Ordering};

use jiff::{civil::DateTime, tz::TimeZone};

use super::Tool;
use crate::{
    audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome, AuditSink},
    clock::Clock,
    pms::{AccountId, E164, PatientId},
    sms::{COUNTS, Consents, SmsError, TwilioClient},
    state::StateResult,
};

/// Texting: Twilio (when configured) and the consents.
pub struct Texts {
    twilio: Option<TwilioClient>,
    consents: Arc<dyn Consents>,
    audit: Arc<dyn AuditSink>,
    clock: Clock,
}

/// A write the practice's system applied, for its confirmation text.
pub struct Confirmation {
    pub account: AccountId,
    /// The write's key in the ledger: one text per write.
    pub key: String,
    pub practice_name: String,
    pub time_zone: TimeZone,
    pub patient: PatientId,
    pub tool: Tool,
    /// The write's summary ("Tuesday, December 1 at 9:00 AM with Dr. Maya Lee (30 minutes)").
    pub summary: String,
    /// The appointment's (new) start, practice-local, when the write has one.
    pub at: Option<DateTime>,
    /// Who the text is sent on behalf of (the call, or the system settling a write).
    pub actor: AuditActor,
}

/// Where a confirmation goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// Texting is off, or the patient did not agree.
    Nobody,
    /// The patient agreed, but their number replied STOP.
    OptedOut,
    Phone(E164),
}

/// A message for the front desk, for the staff's text.
pub struct StaffText<'a> {
    pub account: &'a AccountId,
    pub to: &'a E164,
    pub body: String,
    pub message_id: &'a str,
    pub actor: AuditActor,
}

impl Texts {
    pub fn new(
        twilio: Option<TwilioClient>,
        consents: Arc<dyn Consents>,
        audit: Arc<dyn AuditSink>,
        clock: Clock,
    ) -> Self {
        Self {
            twilio,
            consents,
            audit,
            clock,
        }
    }

    /// Whether texts can be sent at all (Twilio is configured).
    pub fn enabled(&self) -> bool {
        self.twilio.is_some()
    }

    /// The Twilio account texts are sent from, when texting is on.
    pub fn twilio(&self) -> Option<&crate::sms::TwilioSettings> {
        self.twilio.as_ref().map(TwilioClient::settings)
    }

    pub fn consents(&self) -> &dyn Consents {
        self.consents.as_ref()
    }

    /// Where a confirmation for `patient` would be texted now: nowhere (texting off, no
    /// consent), nowhere because the consented number replied STOP, or that number.
    pub async fn recipient(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Recipient> {
        if !self.enabled() {
            return Ok(Recipient::Nobody);
        }
        let Some(consent) = self.consents.consent(account, patient).await? else {
            return Ok(Recipient::Nobody);
        };
        Ok(match self.consents.opted_out(&consent.phone).await? {
            None => Recipient::Phone(consent.phone),
            Some(_) => Recipient::OptedOut,
        })
    }

    /// Texts the confirmation of an applied write, in the background; `known`: its recipient,
    /// when the caller already looked it up (else it is looked up here).
    pub fn confirm(self: &Arc<Self>, confirmation: Confirmation, known: Option<Recipient>) {
        if !self.enabled() || !is_texted(confirmation.tool) {
            return;
        }
        let texts = self.clone();
        tokio::spawn(async move { texts.send_confirmation(confirmation, known).await });
    }

    async fn send_confirmation(&self, c: Confirmation, known: Option<Recipient>) {
        let (Some(twilio), Some(body)) = (&self.twilio, confirmation_text(&c)) else {
            return;
        };
        let recipient = match known {
            Some(known) => Ok(known),
            None => self.recipient(&c.account, &c.patient).await,
        };
        let phone = match recipient {
            Ok(Recipient::Phone(phone)) => phone,
            Ok(Recipient::Nobody) => return,
            Ok(Recipient::OptedOut) => {
                COUNTS.opted_out.fetch_add(1, Ordering::Relaxed);
                let why = "confirmation text not sent: the patient's number replied STOP";
                return self.audited(&c, AuditOutcome::Denied, why.into()).await;
            }
            Err(e) => {
                COUNTS.failed.fetch_add(1, Ordering::Relaxed);
                let why = format!("confirmation text not sent: consents unavailable ({e})");
                return self.audited(&c, AuditOutcome::Failed, why).await;
            }
        };
        match self.consents.first_text(&c.account, &c.key).await {
            Ok(true) => {}
            // Already texted (settled by another path, or on another task).
            Ok(false) => return,
            Err(e) => {
                COUNTS.failed.fetch_add(1, Ordering::Relaxed);
                let why =
                    format!("confirmation text not sent: the shared state is unavailable ({e})");
                return self.audited(&c, AuditOutcome::Failed, why).await;
            }
        }
        let (outcome, why) = match send(twilio, &phone, &body).await {
            Ok(sid) => (
                AuditOutcome::Success,
                format!("confirmation text {sid} sent to the patient's consented number"),
            ),
            Err(SmsError::OptedOut) => {
                // Twilio knows of a STOP the webhook did not deliver: remember it.
                let _ = self.consents.opt_out(&phone, self.clock.now()).await;
                (
                    AuditOutcome::Denied,
                    "confirmation text not sent: Twilio reports the number opted out".into(),
                )
            }
            Err(e) => (
                AuditOutcome::Failed,
                format!("confirmation text not sent: {e}"),
            ),
        };
        self.audited(&c, outcome, why).await;
    }

    /// Texts a front-desk message to the staff; the message SID when Twilio accepted it.
    pub async fn to_staff(&self, text: StaffText<'_>) -> Option<String> {
        let twilio = self.twilio.as_ref()?;
        let sent = send(twilio, text.to, &text.body).await;
        let (outcome, reason, sid) = match sent {
            Ok(sid) => (
                AuditOutcome::Success,
                format!(
                    "message {} texted to the practice's staff number ({sid})",
                    text.message_id
                ),
                Some(sid),
            ),
            Err(e) => (
                AuditOutcome::Failed,
                format!(
                    "message {} not texted to the staff: {e}; it is kept for GET /practices/{{id}}/messages",
                    text.message_id
                ),
                None,
            ),
        };
        let event = AuditEvent {
            action: AuditAction::Notify,
            outcome,
            resource: "sms_front_desk_message".into(),
            account_id: Some(text.account.clone()),
            actor: text.actor,
            patient_ids: Vec::new(),
            request_id: None,
            source_ip: None,
            reason: Some(reason),
        };
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, "the audit entry of a text could not be made");
        }
        sid
    }

    async fn audited(&self, c: &Confirmation, outcome: AuditOutcome, reason: String) {
        let event = AuditEvent {
            action: AuditAction::Notify,
            outcome,
            resource: "sms_confirmation".into(),
            account_id: Some(c.account.clone()),
            actor: c.actor.clone(),
            patient_ids: vec![c.patient.clone()],
            request_id: None,
            source_ip: None,
            reason: Some(format!("{reason} ({})", c.tool.name())),
        };
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, "the audit entry of a text could not be made");
        }
    }
}

/// Whether `tool`'s applied writes are texted to the patient.
pub fn is_texted(tool: Tool) -> bool {
    matches!(
        tool,
        Tool::BookAppointment | Tool::RescheduleAppointment | Tool::CancelAppointment
    )
}

/// One text through Twilio, counted.
async fn send(twilio: &TwilioClient, to: &E164, body: &str) -> Result<String, SmsError> {
    let sent = twilio.send(to, body).await;
    match &sent {
        Ok(_) => COUNTS.sent.fetch_add(1, Ordering::Relaxed),
        Err(SmsError::OptedOut) => COUNTS.opted_out.fetch_add(1, Ordering::Relaxed),
        Err(e) => {
            tracing::warn!(error = %e, "a text was not sent");
            COUNTS.failed.fetch_add(1, Ordering::Relaxed)
        }
    };
    sent
}

/// The words of a confirmation: the practice's name, what was done and when (the practice's
/// local time, with its zone's abbreviation), and how to stop texts. `None` for writes that are
/// not texted.
pub fn confirmation_text(c: &Confirmation) -> Option<String> {
    let what = match c.tool {
        Tool::BookAppointment => format!("your appointment is booked for {}", c.summary),
        Tool::RescheduleAppointment => {
            let moved = c.summary.strip_prefix("move ").unwrap_or(&c.summary);
            format!("your appointment was moved from {moved}")
        }
        Tool::CancelAppointment => {
            let cancelled = c.summary.strip_prefix("cancel ").unwrap_or(&c.summary);
            format!("your appointment on {cancelled} is cancelled")
        }
        _ => return None,
    };
    let zone =
        c.at.and_then(|at| at.to_zoned_datetime(c.time_zone.clone()).ok())
            .map(|at| at.strftime("%Z").to_string())
            .filter(|abbreviation| !abbreviation.is_empty())
            .map(|abbreviation| format!(" Times are {abbreviation}."))
            .unwrap_or_default();
    Some(format!(
        "{}: {what}.{zone} Reply STOP to stop texts.",
        c.practice_name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmation(tool: Tool, summary: &str) -> Confirmation {
        Confirmation {
            account: AccountId::new("acct"),
            key: "k".into(),
            practice_name: "Bayview Dental".into(),
            time_zone: TimeZone::get("America/Los_Angeles").unwrap(),
            patient: PatientId::new("p1"),
            tool,
            summary: summary.into(),
            at: Some(jiff::civil::date(2027, 7, 6).at(9, 0, 0, 0)),
            actor: AuditActor::default(),
        }
    }

    #[test]
    fn a_confirmation_says_what_and_when_in_the_practices_zone() {
        let booked = confirmation(
            Tool::BookAppointment,
            "Tuesday, July 6 at 9:00 AM with Dr. Maya Lee (30 minutes)",
        );
        assert_eq!(
            confirmation_text(&booked).unwrap(),
            "Bayview Dental: your appointment is booked for Tuesday, July 6 at 9:00 AM with Dr. Maya Lee (30 minutes). Times are PDT. Reply STOP to stop texts."
        );
        let winter = Confirmation {
            at: Some(jiff::civil::date(2027, 1, 5).at(9, 0, 0, 0)),
            ..confirmation(
                Tool::CancelAppointment,
                "cancel Tuesday, January 5 at 9:00 AM with Dr. Lee",
            )
        };
        assert_eq!(
            confirmation_text(&winter).unwrap(),
            "Bayview Dental: your appointment on Tuesday, January 5 at 9:00 AM with Dr. Lee is cancelled. Times are PST. Reply STOP to stop texts."
        );
        let moved = confirmation(
            Tool::RescheduleAppointment,
            "move Monday, July 5 at 9:00 AM to Tuesday, July 6 at 9:00 AM with Dr. Lee",
        );
        assert!(confirmation_text(&moved).unwrap().contains(
            "your appointment was moved from Monday, July 5 at 9:00 AM to Tuesday, July 6 at 9:00 AM with Dr. Lee."
        ));
        assert!(confirmation_text(&confirmation(Tool::CreatePatient, "x")).is_none());
    }
}
