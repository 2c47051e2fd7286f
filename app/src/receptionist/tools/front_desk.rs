//! The front desk's tools: who can be booked (`list_providers`), handing the call to a person
//! (`transfer_to_human`: a live transfer through the call's control URL, within the practice's
//! hours) and a message for the staff (`take_message`, with when to expect a call back).

use serde_json::json;

use super::{Ctx, Work};
use crate::{
    pms::{E164, Phi},
    receptionist::{
        Outcome,
        control::ControlError,
        hours::{self, Hours},
        messages::{self, FrontDeskMessage, Urgency},
        texts::StaffText,
    },
};

/// The words when the request carries no `call.monitor.controlUrl`.
pub const NO_CONTROL_URL: &str = "This call has no live call control from Vapi (no call.monitor.controlUrl), so it cannot be transferred from here. Apologise, and offer to take a message for the office with take_message.";

#[derive(Debug, Clone)]
pub struct ListProviders;

#[derive(Debug, Clone)]
pub struct TransferToHuman {
    /// Why the caller wants a person, as the assistant put it (not used to route the call).
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TakeMessage {
    pub caller_name: Phi<String>,
    /// `None`: the caller id.
    pub callback_number: Option<Phi<E164>>,
    pub reason: Phi<String>,
    pub urgency: Urgency,
}

impl Work for ListProviders {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        match cx.practice.pms.providers().await {
            Ok(providers) => {
                let list: Vec<_> = providers
                    .iter()
                    .filter(|p| p.active)
                    .map(|p| json!({"provider_id": p.id, "name": p.display_name, "role": p.role}))
                    .collect();
                let body = json!({"practice": cx.practice.profile.name, "providers": list});
                Outcome::ok(body.to_string(), Vec::new())
            }
            Err(e) => Outcome::pms(&e, Vec::new()),
        }
    }
}

impl Ctx<'_> {
    /// The practice's hours now; `None` when its system cannot say.
    async fn hours_now(&self) -> Option<Hours> {
        match hours::at(self.practice.pms.as_ref(), self.now().datetime()).await {
            Ok(hours) => Some(hours),
            Err(e) => {
                tracing::warn!(error = %e, "the practice's hours could not be read");
                None
            }
        }
    }
}

impl Ctx<'_> {
    /// Texts `message` to the practice's staff number, if it has one and texting is on, in the
    /// background; the kept message notes the text once Twilio accepted it.
    fn text_to_staff(&self, message: FrontDeskMessage) {
        let texts = self.desk.texts().clone();
        let Some(to) = self.practice.profile.staff_sms_number.clone() else {
            return;
        };
        if !texts.enabled() {
            return;
        }
        let store = self.desk.messages.clone();
        let account = self.account().clone();
        let actor = self.call.actor();
        let body = staff_text(&self.practice.profile.name, &message);
        tokio::spawn(async move {
            let sent = texts
                .to_staff(StaffText {
                    account: &account,
                    to: &to,
                    body,
                    message_id: &message.id,
                    actor,
                })
                .await;
            if let Some(sid) = sent
                && let Err(e) = store.texted(&account, &message.id, &sid).await
            {
                tracing::warn!(error = %e, "a message's text could not be noted");
            }
        });
    }
}

/// The staff's text: who, the number to call back, how urgent, why, and the reference.
fn staff_text(practice: &str, m: &FrontDeskMessage) -> String {
    let urgent = match m.urgency {
        Urgency::Urgent => "URGENT message",
        Urgency::Routine => "Message",
    };
    format!(
        "{urgent} for {practice}: {} asks for a call back on {}. Reason: {}. Ref {}.",
        m.caller_name.expose(),
        m.callback_number.expose().as_str(),
        m.reason.expose(),
        m.id
    )
}

impl Work for TransferToHuman {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let number = match cx.practice.transfer_destination() {
            Ok(number) => number,
            Err(words) => {
                return Outcome::failed(words, "no transfer number configured", Vec::new());
            }
        };
        let name = &cx.practice.profile.name;
        // Hours unknown (the practice's system is down): try the transfer anyway.
        if let Some(closed @ Hours::Closed { .. }) = cx.hours_now().await {
            return Outcome::failed(
                format!(
                    "{name} is closed now, so the call was not transferred: nobody is there to answer. Tell the caller the office {}, and offer to take a message for the staff with take_message.",
                    closed.reopening(cx.now().date())
                ),
                "outside office hours",
                Vec::new(),
            );
        }
        let Some(control_url) = cx.call.control_url.as_deref() else {
            return Outcome::failed(NO_CONTROL_URL, "no control URL", Vec::new());
        };
        let content = format!("Connecting you to the front desk at {name} now.");
        match cx.desk.control.transfer(control_url, &number, &content).await {
            Ok(()) => Outcome::ok(
                format!(
                    "The call is being transferred to the front desk at {name} now, and the caller has been told. Say nothing more and call no other tool."
                ),
                Vec::new(),
            )
            .because("transferred to the front desk"),
            Err(e) => {
                tracing::warn!(error = %e, "transfer not made");
                let why = match &e {
                    ControlError::NotAllowed(_) => {
                        "this call's control URL is not a Vapi address the gateway may use".into()
                    }
                    ControlError::Unreachable(_) => "Vapi's call control did not answer".into(),
                    ControlError::Refused(code) => {
                        format!("Vapi's call control refused the transfer (HTTP {code})")
                    }
                };
                Outcome::failed(
                    format!(
                        "The call was not transferred: {why}. Apologise, and offer to take a message for the office with take_message."
                    ),
                    e.to_string(),
                    Vec::new(),
                )
            }
        }
    }
}

impl Work for TakeMessage {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let Some(callback) = self
            .callback_number
            .or_else(|| cx.call.caller.clone().map(Phi::new))
        else {
            return Outcome::failed(
                "Invalid argument `callback_number`: the caller's number is withheld, so the office has no number to call back. Ask the caller for one and call the tool again.",
                "no callback number",
                Vec::new(),
            );
        };
        let hours = cx.hours_now().await;
        let now = cx.now();
        let received_at = now.timestamp();
        let id = messages::new_id(received_at);
        let call_back_from = match &hours {
            Some(Hours::Closed { next }) => *next,
            _ => None,
        };
        let when = match &hours {
            Some(Hours::Open) => "The office is open now: tell the caller the staff will call them back today, as soon as someone is free.".to_owned(),
            Some(closed) => format!(
                "The office is closed now and {}: tell the caller the staff will call them back once it is open.",
                closed.reopening(now.date())
            ),
            None => "Tell the caller the staff will call them back as soon as they can.".to_owned(),
        };
        let last_four = callback.expose().last_four().to_owned();
        let urgency = self.urgency;
        let message = FrontDeskMessage {
            id: id.clone(),
            received_at,
            call_id: cx.call.call_id.clone(),
            caller_name: self.caller_name,
            callback_number: callback,
            reason: self.reason,
            urgency,
            call_back_from,
            texted: None,
        };
        if let Err(e) = cx.desk.messages().record(cx.account(), &message).await {
            tracing::error!(error = %e, "a message for the front desk could not be kept");
            return Outcome::failed(
                "The message could not be saved for the office right now, so nothing was recorded. Apologise, and offer to try again in a moment or to transfer the caller.",
                "message store unavailable",
                Vec::new(),
            );
        }
        cx.text_to_staff(message);
        Outcome::ok(
            format!(
                "The message for the office is recorded ({} priority, reference {id}); they will call back on the number ending in {last_four}. {when}",
                urgency.as_str()
            ),
            Vec::new(),
        )
        .because(format!(
            "message {id} taken for the front desk, {} priority",
            urgency.as_str()
        ))
    }
}
