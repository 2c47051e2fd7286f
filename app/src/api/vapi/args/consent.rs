//! The arguments of `record_sms_consent`: the verified patient agrees (or no longer agrees) to
//! be texted about their appointments.

use poem_openapi::Object;
use serde::Deserialize;

use super::{IdentityArgs, ToolArgs};
use crate::api::vapi::body::envelope_schema;
use crate::receptionist::{ArgError, Tool, ToolRequest, tool, tools::consent::RecordSmsConsent};

/// Arguments of `record_sms_consent`.
#[derive(Debug, Object, Deserialize)]
pub struct RecordSmsConsentArgs {
    #[oai(flatten)]
    #[serde(flatten)]
    pub identity: IdentityArgs,
    /// `true` (the default) when the caller said yes to appointment texts; `false` when they
    /// ask for no more texts.
    pub agreed: Option<bool>,
    /// The mobile number to text, when the caller gives one other than the number they are
    /// calling from. Leave out to use the caller's own number.
    #[oai(validator(max_length = 32))]
    pub phone: Option<String>,
}

envelope_schema! { RecordSmsConsentArgs:
RecordSmsConsentRequest, RecordSmsConsentMessage, RecordSmsConsentCall, RecordSmsConsentFunction }

impl ToolArgs for RecordSmsConsentArgs {
    type Body = RecordSmsConsentRequest;

    fn parse(self, _: Tool) -> Result<ToolRequest, ArgError> {
        Ok(ToolRequest::RecordSmsConsent(RecordSmsConsent {
            identity: self.identity.parse()?,
            agreed: self.agreed.unwrap_or(true),
            phone: self
                .phone
                .filter(|n| !n.trim().is_empty())
                .map(|n| tool::phone("phone", &n))
                .transpose()?,
        }))
    }
}
