//! The arguments of `take_message`: a message for the front desk.

use poem_openapi::Object;
use serde::Deserialize;

use super::ToolArgs;
use crate::api::vapi::body::envelope_schema;
use crate::receptionist::{
    ArgError, Tool, ToolRequest, messages::Urgency, tool, tools::front_desk::TakeMessage,
};

/// Arguments of `take_message`.
#[derive(Debug, Object, Deserialize)]
pub struct TakeMessageArgs {
    /// The caller's name, as they say it.
    #[oai(validator(max_length = 60))]
    pub caller_name: String,
    /// The number the office should call back. Leave out to use the number the caller is
    /// calling from; ask only if they want another number.
    #[oai(validator(max_length = 32))]
    pub callback_number: Option<String>,
    /// What the call is about, in the caller's words (a sentence or two).
    #[oai(validator(max_length = 200))]
    pub reason: String,
    /// `routine` (the default) or `urgent` (pain, swelling, a broken tooth, anything that
    /// cannot wait for a routine call back).
    #[oai(validator(max_length = 16))]
    pub urgency: Option<String>,
    /// The caller's phone number. Filled in by the system from caller id; never ask for it.
    #[oai(validator(max_length = 32))]
    pub caller_number: Option<String>,
}

envelope_schema! { TakeMessageArgs:
TakeMessageRequest, TakeMessageMessage, TakeMessageCall, TakeMessageFunction }

impl ToolArgs for TakeMessageArgs {
    type Body = TakeMessageRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        let reason = tool::note("reason", &self.reason)?;
        if reason.expose().is_empty() {
            return Err(ArgError::new(
                "reason",
                "empty; ask the caller what the message is about",
            ));
        }
        let urgency = match self.urgency.as_deref().map(str::trim) {
            None | Some("") => Urgency::Routine,
            Some(raw) => Urgency::parse(raw).ok_or_else(|| {
                ArgError::new("urgency", format!("{raw:?} is not routine or urgent"))
            })?,
        };
        Ok(ToolRequest::TakeMessage(TakeMessage {
            caller_name: tool::name("caller_name", &self.caller_name)?,
            callback_number: self
                .callback_number
                .filter(|n| !n.trim().is_empty())
                .map(|n| tool::phone("callback_number", &n).map(crate::pms::Phi::new))
                .transpose()?,
            reason,
            urgency,
        }))
    }
}
