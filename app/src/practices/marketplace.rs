//! A Sikka marketplace notification (a purchase or a cancellation of the application by a
//! practice), recorded in the registrations file and audited as a credential change. What the
//! notification says is kept as sent; the office it names is looked up only to put the account
//! on the audit entry. The HTTP side (authentication, the body's shape) is `api/sikka`.

use crate::audit::{AuditAction, AuditActor, AuditError, AuditEvent, AuditOutcome, AuditSink};
use crate::pms::OfficeId;

use super::StoreError;
use super::onboarding::{Origin, SikkaOffices};
use super::registrations::{Registration, RegistrationFile, RegistrationState};

/// Which notification it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    Purchase,
    Cancel,
}

/// Why a notification was not recorded, or not audited.
#[derive(Debug, thiserror::Error)]
pub enum MarketplaceError {
    /// Neither `PartnerRegistrationID` nor `MasterCustomerID` is given (or both are blank).
    #[error("A registration needs a PartnerRegistrationID or a MasterCustomerID.")]
    NoKey,
    /// The registrations file could not be written (the attempt is audited as failed).
    #[error("the registration could not be recorded: {0}")]
    Store(StoreError),
    /// Recorded, but its audit entry could not be written.
    #[error("the registration could not be audited: {0}")]
    Audit(AuditError),
}

/// Records `registration` as purchased or cancelled under its key, then audits it. `Ok`: the
/// registration's key and its state now.
pub async fn record(
    registrations: &RegistrationFile,
    offices: &dyn SikkaOffices,
    audit: &dyn AuditSink,
    origin: &Origin,
    registration: Registration,
    notice: Notice,
) -> Result<(String, RegistrationState), MarketplaceError> {
    let Some(key) = registration.key() else {
        return Err(MarketplaceError::NoKey);
    };
    let office = registration
        .master_customer_id
        .clone()
        .filter(|m| !m.is_empty())
        .map(OfficeId::new);
    let account = match &office {
        Some(office) => offices
            .account_for_sikka_office(office)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let (verb, stored) = match notice {
        Notice::Cancel => (
            "cancelled",
            registrations.cancelled(&key, registration).await,
        ),
        Notice::Purchase => (
            "purchased",
            registrations.purchased(&key, registration).await,
        ),
    };
    let (outcome, result) = match &stored {
        Ok(_) => (AuditOutcome::Success, verb.to_owned()),
        Err(e) => (
            AuditOutcome::Failed,
            format!("{verb}, but recording it failed: {e}"),
        ),
    };
    let event = AuditEvent {
        action: AuditAction::CredentialChange,
        outcome,
        resource: origin.resource.clone(),
        account_id: account,
        actor: AuditActor {
            kind: "sikka-marketplace".into(),
            ..AuditActor::default()
        },
        patient_ids: Vec::new(),
        request_id: origin.request_id.clone(),
        source_ip: origin.source_ip.clone(),
        reason: Some(format!(
            "sikka marketplace registration {key}{}: {result}",
            office
                .as_ref()
                .map(|o| format!(" (office {o})"))
                .unwrap_or_default()
        )),
    };
    let audited = audit.record(event).await;
    match (stored, audited) {
        (Ok(record), Ok(_)) => Ok((key, record.state)),
        (Err(e), _) => Err(MarketplaceError::Store(e)),
        (Ok(_), Err(e)) => Err(MarketplaceError::Audit(e)),
    }
}
