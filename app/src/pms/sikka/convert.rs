//! Sikka items → the port's domain types: patients (phones in any format → [`E164`]),
//! appointments (status mapped, `length` in minutes), providers, operatories, and writeback
//! answers → [`Writeback`] (the weekly schedule is `schedule`'s). A value that does
//! not parse is absent; an item without what the domain cannot do without is a [`BadItem`].

use super::wire::{
    self, AppointmentItem, Message, OperatoryItem, PatientItem, ProviderItem, WritebackStatusItem,
};
use crate::pms::{
    Appointment, AppointmentId, AppointmentStatus, E164, Operatory, OperatoryId, Patient,
    PatientId, Phi, Provider, ProviderId, Writeback, WritebackId, WritebackState,
};

/// An item the domain cannot use: which field was missing or unreadable (never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item} without a usable {field}")]
pub struct BadItem {
    pub item: &'static str,
    pub field: &'static str,
}

/// A phone as PMSs write it: any US form, with an extension (`415-555-0123 x12`) or not.
pub fn phone(raw: &str) -> Option<E164> {
    if let Ok(p) = E164::parse(raw) {
        return Some(p);
    }
    let lower = raw.to_ascii_lowercase();
    let cut = lower
        .find(|c: char| c.is_ascii_alphabetic() || matches!(c, ',' | ';' | '#'))
        .unwrap_or(lower.len());
    let head = raw[..cut].trim();
    if let Ok(p) = E164::parse(head) {
        return Some(p);
    }
    // `415-555-0123-12`: a work number with its extension appended after one more dash.
    let (number, ext) = head.rsplit_once('-')?;
    if ext.len() <= 5 && ext.chars().all(|c| c.is_ascii_digit()) {
        E164::parse(number).ok()
    } else {
        None
    }
}

/// Whether a patient status means the patient is current (unknown statuses count as active).
fn patient_active(status: Option<&str>) -> bool {
    let Some(s) = status else { return true };
    let s = s.to_ascii_lowercase();
    ![
        "inactive",
        "archiv",
        "deceased",
        "delete",
        "non-patient",
        "nonpatient",
        "duplicate",
    ]
    .iter()
    .any(|w| s.contains(w))
}

pub fn patient(item: PatientItem) -> Result<Patient, BadItem> {
    let id = item.patient_id.ok_or(BadItem {
        item: "patient",
        field: "patient_id",
    })?;
    let mut phones: Vec<E164> = Vec::new();
    for raw in [&item.cell, &item.homephone, &item.workphone]
        .into_iter()
        .flatten()
    {
        if let Some(p) = phone(raw)
            && !phones.contains(&p)
        {
            phones.push(p);
        }
    }
    Ok(Patient {
        id: PatientId::new(id),
        first_name: Phi::new(item.firstname.unwrap_or_default()),
        last_name: Phi::new(item.lastname.unwrap_or_default()),
        preferred_name: item.preferred_name.map(Phi::new),
        birth_date: item
            .birthdate
            .as_deref()
            .and_then(wire::parse_date)
            .map(Phi::new),
        phones: Phi::new(phones),
        email: item.email.filter(|e| e.contains('@')).map(Phi::new),
        guarantor_id: item.guarantor_id.map(PatientId::new),
        provider_id: item.provider_id.map(ProviderId::new),
        active: patient_active(item.status.as_deref()),
    })
}

/// Maps a PMS's appointment status (`Scheduled`, `open.confirm`, `Broken`, `Canceled`, …);
/// `cancel_status` is the value this practice's cancellations are written with.
pub fn appointment_status(raw: Option<&str>, cancel_status: Option<&str>) -> AppointmentStatus {
    let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
        return AppointmentStatus::Scheduled;
    };
    if cancel_status.is_some_and(|c| c.trim().eq_ignore_ascii_case(raw)) {
        return AppointmentStatus::Cancelled;
    }
    let s = raw.to_ascii_lowercase();
    let has = |w: &str| s.contains(w);
    if has("cancel") || has("delete") {
        AppointmentStatus::Cancelled
    } else if has("broken") || has("missed") || has("no show") || has("noshow") || has("no-show") {
        AppointmentStatus::Broken
    } else if s.starts_with("complete") || has("checked out") || has("checkout") {
        AppointmentStatus::Completed
    } else if has("confirm") && !has("unconfirm") {
        AppointmentStatus::Confirmed
    } else if matches!(
        s.as_str(),
        "scheduled" | "open" | "booked" | "unconfirmed" | "open.unconfirm" | "fixed"
    ) {
        AppointmentStatus::Scheduled
    } else {
        AppointmentStatus::Other(raw.to_owned())
    }
}

pub fn appointment(
    item: AppointmentItem,
    cancel_status: Option<&str>,
) -> Result<Appointment, BadItem> {
    let bad = |field| BadItem {
        item: "appointment",
        field,
    };
    let id = item.appointment_sr_no.ok_or(bad("appointment_sr_no"))?;
    let day = item
        .date
        .as_deref()
        .and_then(wire::parse_date_time)
        .ok_or(bad("date"))?;
    let start = match item.time.as_deref() {
        Some(t) => day
            .date()
            .to_datetime(wire::parse_time(t).ok_or(bad("time"))?),
        None => day,
    };
    let length_minutes = item
        .length
        .as_deref()
        .and_then(|l| l.split('.').next()?.trim().parse::<u32>().ok())
        .ok_or(bad("length"))?;
    let cancelled = item.cancelled.as_deref().and_then(wire::parse_flag) == Some(true);
    let status = if cancelled {
        AppointmentStatus::Cancelled
    } else {
        appointment_status(item.status.as_deref(), cancel_status)
    };
    Ok(Appointment {
        id: AppointmentId::new(id),
        patient_id: PatientId::new(item.patient_id.unwrap_or_default()),
        provider_id: ProviderId::new(item.provider_id.unwrap_or_default()),
        operatory_id: item.operatory.map(OperatoryId::new),
        start,
        length_minutes,
        status,
        description: item.description.map(Phi::new),
    })
}

pub fn provider(item: ProviderItem) -> Result<Provider, BadItem> {
    let id = item.provider_id.ok_or(BadItem {
        item: "provider",
        field: "provider_id",
    })?;
    let kind = [&item.specialty, &item.speciality, &item.provider_type]
        .into_iter()
        .flatten()
        .map(|s| s.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(" ");
    let role = if kind.contains("hyg") {
        "hygienist"
    } else if kind.contains("assist") {
        "assistant"
    } else if kind.contains("staff") {
        "staff"
    } else {
        "dentist"
    };
    let name = [&item.firstname, &item.lastname]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let display_name = match (role, name.is_empty()) {
        (_, true) => id.clone(),
        ("dentist", false) => format!("Dr. {name}"),
        (_, false) => name,
    };
    let active = item
        .status
        .as_deref()
        .is_none_or(|s| !s.to_ascii_lowercase().contains("inactive"))
        && item.is_hidden.as_deref().and_then(wire::parse_flag) != Some(true);
    Ok(Provider {
        id: ProviderId::new(id),
        display_name,
        role: role.into(),
        active,
    })
}

pub fn operatory(item: OperatoryItem) -> Result<Operatory, BadItem> {
    let id = item.operatory.ok_or(BadItem {
        item: "operatory",
        field: "operatory",
    })?;
    Ok(Operatory {
        name: id.clone(),
        id: OperatoryId::new(id),
        hidden: item.is_hidden.as_deref().and_then(wire::parse_flag) == Some(true),
    })
}

/// An accepted write (201 `API2016`, 200 `API0007`/`API0011`): its writeback id, pending.
pub fn accepted(message: &Message) -> Option<Writeback> {
    Some(Writeback {
        id: WritebackId::new(wire::writeback_id(message)?),
        state: WritebackState::Pending,
    })
}

/// `/writeback_status`: a plain object, an array wrapping the list envelope, a bare item, or an
/// array of items; the item with `id` (or the only one) decides.
pub fn writeback_status(body: &serde_json::Value, id: &WritebackId) -> Option<Writeback> {
    fn items(v: &serde_json::Value) -> Vec<&serde_json::Value> {
        match v {
            serde_json::Value::Array(a) => a.iter().flat_map(items).collect(),
            serde_json::Value::Object(o) => match o.get("items") {
                Some(inner) => items(inner),
                None => vec![v],
            },
            _ => Vec::new(),
        }
    }
    let parsed: Vec<WritebackStatusItem> = items(body)
        .into_iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    let item = parsed
        .iter()
        .find(|i| i.id.as_deref() == Some(id.as_str()))
        .or(if parsed.len() == 1 {
            parsed.first()
        } else {
            None
        })?;
    Some(Writeback {
        id: id.clone(),
        state: writeback_state(item),
    })
}

pub fn writeback_state(item: &WritebackStatusItem) -> WritebackState {
    let flag = |v: &Option<String>| v.as_deref().and_then(wire::parse_flag);
    if flag(&item.has_error) == Some(true) {
        let reason = item
            .result
            .clone()
            .or_else(|| item.status.clone())
            .unwrap_or_else(|| "the practice's system could not apply the change".into());
        WritebackState::Failed { reason }
    } else if flag(&item.is_completed) == Some(true) {
        WritebackState::Applied {
            created_id: item.created_id.clone().filter(|c| !c.starts_with('<')),
        }
    } else {
        WritebackState::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_every_format_match_alike() {
        let want = E164::parse("+14155550123").unwrap();
        for raw in [
            "415-555-0123",
            "(415) 555-0123",
            "4155550123",
            "415.555.0123",
            "1-415-555-0123",
            "+1 415 555 0123",
            "415-555-0123 x12",
            "(415)555-0123 ext. 7",
            "415-555-0123-12",
        ] {
            assert_eq!(phone(raw).as_ref(), Some(&want), "{raw}");
        }
        for junk in ["xxx-xxx-xxxx", "cell", "555-0123", ""] {
            assert_eq!(phone(junk), None, "{junk}");
        }
    }

    #[test]
    fn statuses_map_across_pmses() {
        use AppointmentStatus::*;
        for (raw, want) in [
            ("Scheduled", Scheduled),
            ("open.unconfirm", Scheduled),
            ("open.confirm", Confirmed),
            ("Confirmed", Confirmed),
            ("complete.confirm", Completed),
            ("Completed", Completed),
            ("Canceled", Cancelled),
            ("Cancelled", Cancelled),
            ("Broken", Broken),
            ("No Show", Broken),
        ] {
            assert_eq!(appointment_status(Some(raw), None), want, "{raw}");
        }
        assert_eq!(appointment_status(Some("Here"), None), Other("Here".into()));
        assert_eq!(appointment_status(Some("X-Out"), Some("x-out")), Cancelled);
    }

    #[test]
    fn writeback_states() {
        let id = WritebackId::new("7");
        let plain = serde_json::json!({"id": "7", "is_completed": "False", "has_error": "False"});
        assert_eq!(
            writeback_status(&plain, &id).unwrap().state,
            WritebackState::Pending
        );
        let done = serde_json::json!({"items": [{"id": "7", "is_completed": "True", "has_error": "False", "created_id": "123"}]});
        assert_eq!(
            writeback_status(&done, &id).unwrap().state,
            WritebackState::Applied {
                created_id: Some("123".into())
            }
        );
        let failed = serde_json::json!([{"items": [{"id": "7", "is_completed": "True", "has_error": "True", "result": "Provider not found"}]}]);
        assert_eq!(
            writeback_status(&failed, &id).unwrap().state,
            WritebackState::Failed {
                reason: "Provider not found".into()
            }
        );
        let other = serde_json::json!({"items": [{"id": "8"}, {"id": "9"}]});
        assert!(writeback_status(&other, &id).is_none());
    }
}
