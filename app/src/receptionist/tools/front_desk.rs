//! The front desk's tools: who can be booked (`list_providers`) and handing the call to a
//! person (`transfer_to_human`).

use serde_json::json;

use super::{Ctx, Work};
use crate::receptionist::Outcome;

#[derive(Debug, Clone)]
pub struct ListProviders;

#[derive(Debug, Clone)]
pub struct TransferToHuman {
    /// Why the caller wants a person, as the assistant put it (not used to route the call).
    pub reason: Option<String>,
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

impl Work for TransferToHuman {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        match cx.practice.transfer_destination() {
            Ok(number) => Outcome::ok(
                format!(
                    "Transfer the caller to the front desk now: tell them you are connecting them, then transfer the call to {}.",
                    number.as_str()
                ),
                Vec::new(),
            ),
            Err(words) => Outcome::failed(words, "no transfer number configured", Vec::new()),
        }
    }
}
