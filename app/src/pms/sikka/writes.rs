//! The bodies of Sikka's writebacks (book, reschedule, cancel, new patient, edit patient), as
//! its writeback reference documents them: every value a string, dates `yyyy-mm-dd`, times
//! `HH:mm`, and `"check_spu": "true"` so an offline sync agent is reported at once (412
//! `API2017`) instead of queueing a write that will not be applied.

use serde_json::{Value, json};

use crate::pms::{AppointmentId, E164, NewAppointment, NewPatient, Reschedule};

fn date(dt: jiff::civil::Date) -> String {
    dt.strftime("%Y-%m-%d").to_string()
}

fn time(dt: jiff::civil::DateTime) -> String {
    dt.strftime("%H:%M").to_string()
}

/// A phone as PMSs take it: `415-555-0123` for North American numbers, E.164 otherwise.
pub fn pms_phone(phone: &E164) -> String {
    let s = phone.as_str();
    match s.strip_prefix("+1") {
        Some(national) if national.len() == 10 => {
            format!("{}-{}-{}", &national[..3], &national[3..6], &national[6..])
        }
        _ => s.to_owned(),
    }
}

/// `POST /appointment`.
pub fn book(practice_id: &str, a: &NewAppointment) -> Value {
    let mut body = json!({
        "patient_id": a.patient_id.as_str(),
        "provider_id": a.provider_id.as_str(),
        "operatory": a.operatory_id.as_str(),
        "practice_id": practice_id,
        "date": date(a.start.date()),
        "time": time(a.start),
        "length": a.length_minutes.to_string(),
        "description": a.description.expose(),
        "check_spu": "true",
    });
    if let Some(note) = &a.note {
        body["note"] = json!(note.expose());
    }
    body
}

/// `PUT /appointments/{appointment_sr_no}`.
pub fn reschedule(practice_id: &str, r: &Reschedule) -> Value {
    let mut body = json!({
        "practice_id": practice_id,
        "provider_id": r.provider_id.as_str(),
        "date": date(r.start.date()),
        "time": time(r.start),
        "length": r.length_minutes.to_string(),
        "check_spu": "true",
    });
    if let Some(op) = &r.operatory_id {
        body["operatory"] = json!(op.as_str());
    }
    body
}

/// `PATCH /appointments/{appointment_sr_no}`: the status replaced by the practice's cancel
/// status.
pub fn cancel(
    practice_id: &str,
    id: &AppointmentId,
    cancel_status: &str,
    note: Option<&str>,
) -> Value {
    let mut body = json!({
        "op": "replace",
        "path": "/appointment_status",
        "value": cancel_status,
        "practice_id": practice_id,
        "appointment_sr_no": id.as_str(),
        "check_spu": "true",
    });
    if let Some(note) = note {
        body["cancellation_note"] = json!(note);
    }
    body
}

/// `POST /patient`.
pub fn new_patient(practice_id: &str, p: &NewPatient) -> Value {
    let mut body = json!({
        "firstname": p.first_name.expose(),
        "lastname": p.last_name.expose(),
        "birthdate": date(*p.birth_date.expose()),
        "cell": pms_phone(p.phone.expose()),
        "provider_id": p.provider_id.as_str(),
        "practice_id": practice_id,
        "check_spu": "true",
    });
    if let Some(email) = &p.email {
        body["email"] = json!(email.expose());
    }
    body
}

/// `PATCH /patient/{patient_id}` (Orthotrac and Dolphin only; they take no phone or email).
pub fn edit_patient(practice_id: &str, preferred_name: &str) -> Value {
    json!({
        "practice_id": practice_id,
        "preferred_name": preferred_name,
        "check_spu": "true",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pms::{OperatoryId, PatientId, Phi, ProviderId};
    use jiff::civil::date as d;

    #[test]
    fn booking_body_follows_the_reference() {
        let body = book(
            "1-0",
            &NewAppointment {
                patient_id: PatientId::new("5383"),
                provider_id: ProviderId::new("DMD2"),
                operatory_id: OperatoryId::new("OP-9"),
                start: d(2020, 9, 29).at(9, 5, 0, 0),
                length_minutes: 60,
                description: Phi::new("Cleaning".into()),
                note: None,
            },
        );
        assert_eq!(
            body,
            json!({"patient_id": "5383", "provider_id": "DMD2", "operatory": "OP-9",
                   "practice_id": "1-0", "date": "2020-09-29", "time": "09:05", "length": "60",
                   "description": "Cleaning", "check_spu": "true"})
        );
    }

    #[test]
    fn phones_go_out_in_the_documented_shape() {
        assert_eq!(
            pms_phone(&E164::parse("+14155550123").unwrap()),
            "415-555-0123"
        );
        assert_eq!(
            pms_phone(&E164::parse("+442071838750").unwrap()),
            "+442071838750"
        );
    }
}
