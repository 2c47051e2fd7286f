//! The patient tools: identifying the caller, reading a verified patient's details, registering
//! a new patient, and updating contact details. Nothing about a patient is said to a caller the
//! rules have not verified.

use std::sync::Arc;

use jiff::civil::Date;
use serde_json::json;

use super::{
    CallInfo, Done, Receptionist,
    ledger::LedgerEntry,
    request::{Identity, Tool},
    verify::{self, Verdict},
};
use crate::{
    pms::{E164, NewPatient, PatientId, PatientQuery, PatientUpdate, Phi, WritebackState},
    practices::Practice,
};

impl Receptionist {
    pub(super) async fn search_patients(
        &self,
        practice: &Practice,
        call: &CallInfo,
        identity: &Identity,
    ) -> Done {
        let verdict = match verify::verify(
            practice.pms.as_ref(),
            &self.sessions,
            call.scope(&practice.profile.account_id),
            call.caller.as_ref(),
            identity,
        )
        .await
        {
            Ok(v) => v,
            Err(e) => return Done::pms(&e, Vec::new()),
        };
        match verdict {
            Verdict::Verified(patient) => Done::ok(
                json!({
                    "verified": true,
                    "patient_id": patient.id,
                    "first_name": patient.first_name.expose(),
                    "last_name": patient.last_name.expose(),
                })
                .to_string(),
                vec![patient.id.clone()],
            ),
            other => {
                let mut body = json!({"verified": false, "next_step": other.refusal()});
                match &other {
                    Verdict::Household(members) => {
                        body["household_first_names"] = members
                            .iter()
                            .map(|p| p.first_name.expose().clone())
                            .collect();
                    }
                    Verdict::Unverified { matches } => body["matching_records"] = json!(matches),
                    _ => {}
                }
                Done {
                    reason: Some("caller not verified".into()),
                    ..Done::ok(body.to_string(), Vec::new())
                }
            }
        }
    }

    pub(super) async fn patient_info(
        &self,
        practice: &Practice,
        call: &CallInfo,
        identity: &Identity,
    ) -> Done {
        let patient = match self.verified(practice, call, identity).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let provider = match &patient.provider_id {
            Some(id) => practice
                .pms
                .providers()
                .await
                .ok()
                .and_then(|ps| ps.into_iter().find(|p| &p.id == id))
                .map(|p| p.display_name),
            None => None,
        };
        let body = json!({
            "patient_id": patient.id,
            "first_name": patient.first_name.expose(),
            "last_name": patient.last_name.expose(),
            "preferred_name": patient.preferred_name.as_ref().map(|n| n.expose()),
            "date_of_birth": patient.birth_date.as_ref().map(|d| d.expose().to_string()),
            "phones": patient.phones.expose().iter().map(E164::as_str).collect::<Vec<_>>(),
            "email": patient.email.as_ref().map(|e| e.expose()),
            "provider": provider,
            "active": patient.active,
        });
        Done::ok(body.to_string(), vec![patient.id])
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_patient(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        first_name: Phi<String>,
        last_name: Phi<String>,
        birth_date: Phi<Date>,
        phone: Option<Phi<E164>>,
        email: Option<Phi<String>>,
    ) -> Done {
        let Some(phone) = phone.or_else(|| call.caller.clone().map(Phi::new)) else {
            return Done::failed(
                "Invalid argument `phone`: there is no caller id on this call, so a phone number is required. Ask the caller for one and call again.",
                "invalid argument phone",
                Vec::new(),
            );
        };
        let existing = practice
            .pms
            .find_patients(&PatientQuery {
                first_name: Some(first_name.clone()),
                last_name: Some(last_name.clone()),
                birth_date: Some(birth_date.clone()),
                phone: None,
            })
            .await;
        match existing {
            // Several records share the name and date of birth: nobody is verified by it, and
            // nothing about any of them is said.
            Ok(found) if found.len() > 1 => {
                return Done {
                    reason: Some("several records match; caller not verified".into()),
                    ..Done::ok(
                        "Several patient records already match that name and date of birth, so no new record was created and the caller is not verified. Offer to transfer the caller to the front desk.",
                        Vec::new(),
                    )
                };
            }
            Ok(found) if !found.is_empty() => {
                let patient = &found[0];
                self.sessions
                    .remember(call.scope(&practice.profile.account_id), &patient.id);
                return Done::ok(
                    format!(
                        "{} is already a patient here (patient_id {}); no new record was created.",
                        patient.first_name.expose(),
                        patient.id
                    ),
                    vec![patient.id.clone()],
                );
            }
            Ok(_) => {}
            Err(e) => return Done::pms(&e, Vec::new()),
        }
        let account = &practice.profile.account_id;
        let key = registration_key(&first_name, &last_name, &birth_date);
        if let Some(entry) = self.ledger.get(account, &key) {
            return Done::pending(
                format!(
                    "This registration was already sent and is pending in the practice's system (reference {}). Nothing new was done.",
                    entry.reference
                ),
                Vec::new(),
            );
        }
        let providers = match practice.pms.providers().await {
            Ok(p) => p,
            Err(e) => return Done::pms(&e, Vec::new()),
        };
        let Some(provider) = providers
            .iter()
            .filter(|p| p.active)
            .min_by_key(|p| p.role != "dentist")
        else {
            return Done::failed(
                "The practice has no active provider to register a patient with. Offer to transfer the caller.",
                "no active provider",
                Vec::new(),
            );
        };
        let first = first_name.expose().clone();
        let new = NewPatient {
            first_name,
            last_name,
            birth_date,
            phone,
            email,
            provider_id: provider.id.clone(),
        };
        if let Err(done) = self.intend(practice, call, Tool::CreatePatient, &[]).await {
            return done;
        }
        let writeback = match practice.pms.create_patient(new).await {
            Ok(w) => w,
            Err(e) => return Done::pms(&e, Vec::new()),
        };
        let placeholder = PatientId::new(format!("pending:{}", writeback.id));
        self.ledger.insert(
            account,
            key,
            LedgerEntry::new(
                writeback.id.clone(),
                placeholder.clone(),
                None,
                format!("register {first}"),
            ),
        );
        let settled = self.settle_now(practice, writeback).await;
        match settled.state.clone() {
            WritebackState::Applied { created_id } => {
                self.ledger
                    .settle(account, &settled.id, settled.state, created_id.clone());
                let id = created_id.map(PatientId::new);
                if let Some(id) = &id {
                    self.sessions
                        .remember(call.scope(&practice.profile.account_id), id);
                }
                let shown = id
                    .as_ref()
                    .map_or_else(|| settled.id.to_string(), |i| i.to_string());
                Done::ok(
                    format!(
                        "Registered {first} as a new patient and confirmed by the practice's system. patient_id {shown}."
                    ),
                    id.into_iter().collect(),
                )
            }
            WritebackState::Pending => {
                self.settle_later(
                    practice.clone(),
                    call,
                    Tool::CreatePatient,
                    settled.clone(),
                    placeholder,
                );
                Done::pending(
                    format!(
                        "The registration for {first} was sent but the practice's system has not confirmed it yet (reference {}). Tell the caller it is pending; appointments can be booked once it is confirmed, or the office will call back.",
                        settled.id
                    ),
                    Vec::new(),
                )
            }
            WritebackState::Failed { reason } => {
                self.ledger
                    .settle(account, &settled.id, settled.state.clone(), None);
                Done::failed(
                    format!(
                        "The practice's system did not accept the registration: {reason}. Offer to transfer the caller to the front desk."
                    ),
                    "writeback failed",
                    Vec::new(),
                )
            }
        }
    }

    pub(super) async fn update_patient(
        &self,
        practice: &Arc<Practice>,
        call: &CallInfo,
        identity: &Identity,
        phone: Option<Phi<E164>>,
        email: Option<Phi<String>>,
        preferred_name: Option<Phi<String>>,
    ) -> Done {
        let update = PatientUpdate {
            phone,
            email,
            preferred_name,
        };
        if update.is_empty() {
            return Done::failed(
                "Nothing to update: give at least one of phone, email or preferred_name, then call again.",
                "invalid argument: no change given",
                Vec::new(),
            );
        }
        let patient = match self.verified(practice, call, identity).await {
            Ok(p) => p,
            Err(done) => return done,
        };
        let who = [patient.id.clone()];
        if let Err(done) = self.intend(practice, call, Tool::UpdatePatient, &who).await {
            return done;
        }
        let writeback = match practice.pms.update_patient(&patient.id, update).await {
            Ok(w) => w,
            Err(e) => return Done::pms(&e, vec![patient.id.clone()]),
        };
        let what = super::scheduling::Written {
            tool: Tool::UpdatePatient,
            verb: "Updated",
            summary: "contact details",
        };
        self.settle_and_report(practice, call, &patient, writeback, what)
            .await
    }
}

/// The business key of a registration: `patient|` and a SHA-256 of the name and date of birth,
/// so the ledger (and anything that ever lists its keys) holds no patient data.
fn registration_key(first: &Phi<String>, last: &Phi<String>, birth: &Phi<Date>) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(first.expose().trim().to_lowercase())
        .chain_update([0x1f])
        .chain_update(last.expose().trim().to_lowercase())
        .chain_update([0x1f])
        .chain_update(birth.expose().to_string())
        .finalize();
    format!("patient|{}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_keys_carry_no_name_or_birth_date() {
        let key = registration_key(
            &Phi::new("Olivia".into()),
            &Phi::new("Martinez".into()),
            &Phi::new(jiff::civil::date(1988, 4, 12)),
        );
        assert!(key.starts_with("patient|"), "{key}");
        let lower = key.to_lowercase();
        assert!(!lower.contains("olivia") && !lower.contains("martinez") && !key.contains("1988"));
        let again = registration_key(
            &Phi::new(" olivia ".into()),
            &Phi::new("MARTINEZ".into()),
            &Phi::new(jiff::civil::date(1988, 4, 12)),
        );
        assert_eq!(key, again, "the same person is the same key");
    }
}
