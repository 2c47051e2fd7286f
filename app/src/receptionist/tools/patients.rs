//! The patient tools: identifying the caller, reading a verified patient's details, registering
//! a new patient, and updating contact details. Nothing about a patient is said to a caller the
//! rules (`verify`) have not verified.

use jiff::civil::Date;
use serde_json::json;

use super::{Ctx, Work, Written};
use crate::{
    pms::{
        E164, NewPatient, PatientId, PatientQuery, PatientUpdate, Phi, Writeback, WritebackState,
    },
    receptionist::{Identity, Outcome, Tool, Verdict, WriteKey},
};

#[derive(Debug, Clone)]
pub struct SearchPatients {
    pub identity: Identity,
}

#[derive(Debug, Clone)]
pub struct GetPatientInfo {
    pub identity: Identity,
}

#[derive(Debug, Clone)]
pub struct CreatePatient {
    pub first_name: Phi<String>,
    pub last_name: Phi<String>,
    pub birth_date: Phi<Date>,
    /// The caller's number when not given.
    pub phone: Option<Phi<E164>>,
    pub email: Option<Phi<String>>,
}

#[derive(Debug, Clone)]
pub struct UpdatePatient {
    pub identity: Identity,
    pub phone: Option<Phi<E164>>,
    pub email: Option<Phi<String>>,
    pub preferred_name: Option<Phi<String>>,
}

impl Work for SearchPatients {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let verdict = match cx.verdict(&self.identity).await {
            Ok(v) => v,
            Err(failed) => return failed,
        };
        if let Verdict::Verified(patient) = &verdict {
            let body = json!({
                "verified": true,
                "patient_id": patient.id,
                "first_name": patient.first_name.expose(),
                "last_name": patient.last_name.expose(),
            });
            return Outcome::ok(body.to_string(), vec![patient.id.clone()]);
        }
        let mut body = json!({"verified": false, "next_step": verdict.refusal()});
        match &verdict {
            Verdict::Household(members) => {
                body["household_first_names"] = members
                    .iter()
                    .map(|p| p.first_name.expose().clone())
                    .collect();
            }
            Verdict::Unverified { matches } => body["matching_records"] = json!(matches),
            _ => {}
        }
        Outcome::ok(body.to_string(), Vec::new()).because("caller not verified")
    }
}

impl Work for GetPatientInfo {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let provider = match &patient.provider_id {
            Some(id) => cx
                .practice
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
        Outcome::ok(body.to_string(), vec![patient.id])
    }
}

impl Work for CreatePatient {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let Some(phone) = self.phone.or_else(|| cx.call.caller.clone().map(Phi::new)) else {
            return Outcome::failed(
                "Invalid argument `phone`: there is no caller id on this call, so a phone number is required. Ask the caller for one and call again.",
                "invalid argument phone",
                Vec::new(),
            );
        };
        let existing = cx
            .practice
            .pms
            .find_patients(&PatientQuery {
                first_name: Some(self.first_name.clone()),
                last_name: Some(self.last_name.clone()),
                birth_date: Some(self.birth_date.clone()),
                phone: None,
            })
            .await;
        match existing {
            // Several records share the name and date of birth: nobody is verified by it, and
            // nothing about any of them is said.
            Ok(found) if found.len() > 1 => {
                return Outcome::ok(
                    "Several patient records already match that name and date of birth, so no new record was created and the caller is not verified. Offer to transfer the caller to the front desk.",
                    Vec::new(),
                )
                .because("several records match; caller not verified");
            }
            Ok(found) if !found.is_empty() => {
                let patient = &found[0];
                cx.remember_verified(&patient.id).await;
                return Outcome::ok(
                    format!(
                        "{} is already a patient here (patient_id {}); no new record was created.",
                        patient.first_name.expose(),
                        patient.id
                    ),
                    vec![patient.id.clone()],
                );
            }
            Ok(_) => {}
            Err(e) => return Outcome::pms(&e, Vec::new()),
        }
        let key = WriteKey::registration(&self.first_name, &self.last_name, &self.birth_date);
        let made = cx.desk.writebacks.ledger().get(cx.account(), &key).await;
        match made {
            Ok(Some(entry)) => {
                return Outcome::pending(
                    format!(
                        "This registration was already sent and is pending in the practice's system (reference {}). Nothing new was done.",
                        entry.reference
                    ),
                    Vec::new(),
                );
            }
            Ok(None) => {}
            Err(e) => return super::state_down(&e, &[]),
        }
        let providers = match cx.practice.pms.providers().await {
            Ok(p) => p,
            Err(e) => return Outcome::pms(&e, Vec::new()),
        };
        let Some(provider) = providers
            .iter()
            .filter(|p| p.active)
            .min_by_key(|p| p.role != "dentist")
        else {
            return Outcome::failed(
                "The practice has no active provider to register a patient with. Offer to transfer the caller.",
                "no active provider",
                Vec::new(),
            );
        };
        let first = self.first_name.expose().clone();
        let new = NewPatient {
            first_name: self.first_name,
            last_name: self.last_name,
            birth_date: self.birth_date,
            phone,
            email: self.email,
            provider_id: provider.id.clone(),
        };
        // The patient has no id until the practice's system creates the record.
        let unknown = PatientId::new("pending");
        let summary = format!("register {first}");
        let claimed = match cx.claim(&key, &unknown, None, &summary).await {
            Ok(claimed) => claimed,
            Err(super::Refused::Answer(answer)) => return answer,
            Err(super::Refused::Taken) => unreachable!("a registration holds no slot"),
        };
        if let Err(refused) = cx.intend(Tool::CreatePatient, &[]).await {
            cx.release(&claimed).await;
            return refused;
        }
        let writeback = match cx.practice.pms.create_patient(new).await {
            Ok(w) => w,
            Err(e) => {
                cx.release(&claimed).await;
                return Outcome::pms(&e, Vec::new());
            }
        };
        let placeholder = PatientId::new(format!("pending:{}", writeback.id));
        let nothing_to_text = ("", None);
        (cx.record(
            &claimed,
            Tool::CreatePatient,
            &writeback,
            placeholder,
            nothing_to_text,
        ))
        .await;
        let settled = cx
            .desk
            .writebacks
            .wait(cx.practice, Some((&claimed, None)), writeback);
        registered(cx, &first, settled.await).await
    }
}

/// The answer to a registration, once the practice's system applied it, refused it, or is
/// still on it.
async fn registered(cx: &Ctx<'_>, first: &str, settled: Writeback) -> Outcome {
    match &settled.state {
        WritebackState::Applied { created_id } => {
            let id = created_id.clone().map(PatientId::new);
            if let Some(id) = &id {
                cx.remember_verified(id).await;
            }
            let shown = id
                .as_ref()
                .map_or_else(|| settled.id.to_string(), |i| i.to_string());
            Outcome::ok(
                format!(
                    "Registered {first} as a new patient and confirmed by the practice's system. patient_id {shown}."
                ),
                id.into_iter().collect(),
            )
        }
        WritebackState::Pending => {
            cx.desk.writebacks.follow();
            Outcome::pending(
                format!(
                    "The registration for {first} was sent but the practice's system has not confirmed it yet (reference {}). Tell the caller it is pending; appointments can be booked once it is confirmed, or the office will call back.",
                    settled.id
                ),
                Vec::new(),
            )
        }
        WritebackState::Failed { reason } => Outcome::failed(
            format!(
                "The practice's system did not accept the registration: {reason}. Offer to transfer the caller to the front desk."
            ),
            "writeback failed",
            Vec::new(),
        ),
    }
}

impl Work for UpdatePatient {
    async fn run(self, cx: &Ctx<'_>) -> Outcome {
        let update = PatientUpdate {
            phone: self.phone,
            email: self.email,
            preferred_name: self.preferred_name,
        };
        if update.is_empty() {
            return Outcome::failed(
                "Nothing to update: give at least one of phone, email or preferred_name, then call again.",
                "invalid argument: no change given",
                Vec::new(),
            );
        }
        let patient = match cx.verified(&self.identity).await {
            Ok(p) => p,
            Err(refused) => return refused,
        };
        let who = [patient.id.clone()];
        if let Err(refused) = cx.intend(Tool::UpdatePatient, &who).await {
            return refused;
        }
        let written = cx.practice.pms.update_patient(&patient.id, update).await;
        let what = Written {
            tool: Tool::UpdatePatient,
            verb: "Updated",
            summary: "contact details",
            claimed: None,
            at: None,
        };
        cx.sent(&patient, written, what).await
    }
}
