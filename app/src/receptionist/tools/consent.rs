//! `record_sms_consent`: the verified patient agrees to be texted about their appointments on a
//! number (the caller's own unless they give another), or withdraws that agreement. Recorded in
//! the consents store (`sms::consent`) and audited as a change to the patient's consent; the
//! answer says what the patient will (or will not) receive, and when texts cannot reach them (the
//! practice does not text, or the number replied STOP and must text START first).

use super::{Ctx, Work};
use crate::{
    pms::E164,
    receptionist::{Identity, Outcome},
    sms::Consent,
};

#[derive(Debug, Clone)]
pub struct RecordSmsConsent {
    pub identity: Identity,
    /// `false`: the patient withdraws.
    pub agreed: bool,
    /// `None`: the caller id.
    pub phone: Option<E164>,
}

/// The words when the shared store cannot record a consent.
const NOT_RECORDED: &str = "The texting preference could not be saved right now, so nothing changed. Apologise, and tell the caller the office will not text them until it is saved; offer to try again in a moment.";

impl Work for RecordSmsConsent {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let who = vec![patient.id.clone()];
        let first = patient.first_name.expose();
        let texts = cx.desk.texts();
        let consents = texts.consents();
        if !self.agreed {
            return match consents.withdraw(cx.account(), &patient.id).await {
                Ok(had) => Outcome::ok(
                    format!(
                        "Recorded: {first} will not get appointment texts from {}.",
                        cx.practice.profile.name
                    ),
                    who,
                )
                .because(if had {
                    "text consent withdrawn by the caller"
                } else {
                    "text consent declined by the caller (none was recorded)"
                }),
                Err(e) => {
                    tracing::error!(error = %e, "a consent could not be withdrawn");
                    Outcome::failed(NOT_RECORDED, "consent store unavailable", who)
                }
            };
        }
        if !texts.enabled() {
            return Outcome::failed(
                format!(
                    "{} does not send text messages, so no texting consent was recorded. Tell the caller the office will not text them; nothing else changes.",
                    cx.practice.profile.name
                ),
                "texting is not configured",
                who,
            );
        }
        let Some(phone) = self.phone.or_else(|| cx.call.caller.clone()) else {
            return Outcome::failed(
                "Invalid argument `phone`: the caller's number is withheld, so there is no number to text. Ask the caller for their mobile number and call the tool again with phone.",
                "no number to text",
                who,
            );
        };
        let consent = Consent {
            phone: phone.clone(),
            given_at: cx.desk.clock().now(),
            call_id: cx.call.call_id.clone(),
        };
        if let Err(e) = consents.grant(cx.account(), &patient.id, &consent).await {
            tracing::error!(error = %e, "a consent could not be recorded");
            return Outcome::failed(NOT_RECORDED, "consent store unavailable", who);
        }
        let last_four = phone.last_four();
        let opted_out = consents.opted_out(&phone).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "opt-outs unavailable");
            None
        });
        let answer = match opted_out {
            None => format!(
                "Recorded: {first} agreed to appointment texts from {} on the number ending in {last_four}. They will get a text when a booking, change or cancellation is confirmed, and can reply STOP at any time.",
                cx.practice.profile.name
            ),
            Some(_) => format!(
                "Recorded: {first} agreed to appointment texts on the number ending in {last_four}, but that number replied STOP to our texts earlier, so none can be sent until it texts START back. Tell the caller to reply START to one of our texts if they want them."
            ),
        };
        Outcome::ok(answer, who).because(format!(
            "text consent recorded for the number ending in {last_four}"
        ))
    }
}
