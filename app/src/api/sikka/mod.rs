//! The Sikka routes under `/pms/sikka/`: the `app.authorized` webhook (onboard a practice) and the
//! data webhooks (refresh a practice's caches; settle its pending writebacks) in [`webhooks`],
//! and the marketplace's purchase/cancel registration handshake in [`marketplace`]; how they
//! authenticate in [`auth`]. What they do lives outside HTTP (`practices::onboarding`,
//! `practices::marketplace`, the receptionist's settling); these files read and answer HTTP.

mod auth;
pub mod marketplace;
pub mod webhooks;

use std::sync::Arc;

use poem::Request;

use super::{RequestMeta, problem::ProblemJson};
use crate::practices::onboarding::{Onboarding, Origin};
use crate::practices::registrations::RegistrationFile;
use crate::secret::Secret;

pub use auth::{CALLBACK_KEY_HEADER, MARKETPLACE_SECRET_HEADER};

/// What the Sikka routes need besides the shared state.
pub struct SikkaHooks {
    pub callback_key: Option<Secret>,
    pub marketplace_secret: Option<Secret>,
    pub onboarding: Arc<Onboarding>,
    pub registrations: Arc<RegistrationFile>,
}

/// An id Sikka sends as a number or a string (`1`, `"1-0"`, `"D36225"`): its text, `None` when
/// absent or null. Anything else is refused (400). The documented schema is set in
/// `api::openapi`.
fn id_text(field: &str, value: Option<&serde_json::Value>) -> Result<Option<String>, ProblemJson> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(t)) => Ok(Some(t.trim().to_owned())),
        Some(serde_json::Value::Number(n)) => {
            Ok(Some(match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (_, Some(u), _) => u.to_string(),
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                _ => n.to_string(),
            }))
        }
        Some(_) => Err(ProblemJson::bad_request(format!(
            "{field} must be a string or a number."
        ))),
    }
}

fn unavailable(detail: impl Into<String>) -> ProblemJson {
    ProblemJson::new(
        poem::http::StatusCode::SERVICE_UNAVAILABLE,
        "Service Unavailable",
        detail,
    )
}

fn unprocessable(detail: impl Into<String>) -> ProblemJson {
    ProblemJson::new(
        poem::http::StatusCode::UNPROCESSABLE_ENTITY,
        "Unprocessable Content",
        detail,
    )
}

/// Where a Sikka request came from, for the audit trail.
fn origin(req: &Request) -> Origin {
    let meta = req.extensions().get::<RequestMeta>();
    Origin {
        resource: req.uri().path().to_owned(),
        actor: "sikka".into(),
        request_id: meta.map(|m| m.request_id.clone()),
        source_ip: meta.and_then(|m| m.source_ip.clone()),
    }
}
