//! Writebacks: accepted at once with an id, applied later by the simulated sync agent, with the
//! outcome readable through `writeback_status` and `writebacks`.

use jiff::civil::{Date, DateTime, Time};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::seed::{AppointmentRow, Db, PatientRow, holds_slot};
use super::wire::{sikka_date, sikka_datetime};
use super::{APPOINTMENT_STATUSES, STATUS_SCHEDULED};

/// The first writeback id (the documentation's example id).
pub const FIRST_WRITEBACK_ID: u64 = 275_495;

#[derive(Debug, Clone)]
pub enum Op {
    Book,
    /// `PUT /appointments/{sr_no}`.
    Update(String),
    /// `PATCH /appointments/{sr_no}`.
    SetStatus(String),
    CreatePatient,
    /// `PATCH /patient/{id}`.
    UpdatePatient(String),
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: u64,
    pub op: Op,
    pub method: &'static str,
    /// `api` in `writeback_status` (`appointment`, `appointments`, `patients`, `patient`).
    pub api: &'static str,
    pub body: Map<String, Value>,
    pub practice_id: String,
    pub request_time: DateTime,
    pub due: Instant,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub completed_time: DateTime,
    pub error: bool,
    pub result: String,
    pub created_id: String,
    pub appointment_sr_no: String,
    pub patient_id: String,
}

/// A body value as text: Sikka's examples send strings, clients may send numbers.
pub fn text(body: &Map<String, Value>, key: &str) -> Option<String> {
    match body.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn parse_date(s: &str) -> Option<Date> {
    let d = s.get(..10)?;
    (d.len() == 10 && d.as_bytes()[4] == b'-')
        .then(|| d.parse().ok())
        .flatten()
}

pub fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (i8, i8) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
    Time::new(h, m, 0, 0).ok()
}

pub fn parse_length(s: &str) -> Option<u32> {
    s.parse::<u32>().ok().filter(|n| *n > 0)
}

/// The wall-clock time writebacks are stamped with (UTC, no zone, like Sikka's stamps).
pub fn now_stamp(clock: &gateway::clock::Clock) -> DateTime {
    clock
        .now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .datetime()
}

fn stamp(t: DateTime) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

impl Record {
    fn payload(&self) -> String {
        Value::Object(self.body.clone()).to_string()
    }

    /// An item of `writeback_status`.
    pub fn status_item(&self, office_id: &str) -> Value {
        let o = self.outcome.as_ref();
        let target = match &self.op {
            Op::Update(sr) | Op::SetStatus(sr) => sr.clone(),
            _ => String::new(),
        };
        json!({
            "id": self.id.to_string(),
            "office_id": office_id,
            "method": self.method,
            "api": self.api,
            "payload_body": self.payload(),
            "appointment_sr_no": o.map_or(target, |o| o.appointment_sr_no.clone()),
            "request_time": stamp(self.request_time),
            "is_completed": if o.is_some() { "True" } else { "False" },
            "has_error": if o.is_some_and(|o| o.error) { "True" } else { "False" },
            "completed_time": o.map(|o| stamp(o.completed_time)).unwrap_or_default(),
            "result": o.map_or_else(|| "pending".to_owned(), |o| o.result.clone()),
            "practice_id": self.practice_id,
            "status": match o { None => "Pending", Some(o) if o.error => "Failed", Some(_) => "Success" },
            "patient_id": o.map(|o| o.patient_id.clone()).unwrap_or_default(),
            "created_id": o.map(|o| o.created_id.clone()).unwrap_or_default(),
        })
    }

    /// An item of `GET /writebacks`.
    pub fn list_item(&self, base: &str, office_id: &str) -> Value {
        let o = self.outcome.as_ref();
        let mut form = vec!["request_key=********".to_owned()];
        for (k, v) in &self.body {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            form.push(format!("{k}={v}"));
        }
        json!({
            "href": format!("{base}/writebacks/{}", self.id),
            "description": "",
            "id": self.id.to_string(),
            "result": o.map_or_else(|| "pending".to_owned(), |o| o.result.clone()),
            "office_id": office_id,
            "method": self.method,
            "completed_time": o.map(|o| sikka_datetime(o.completed_time)).unwrap_or_default(),
            "api_name": self.api,
            "api_request_body": form.join("&"),
            "command_time": sikka_datetime(self.request_time),
            "duration_in_second": o
                .map(|o| (o.completed_time - self.request_time).get_seconds().max(0).to_string())
                .unwrap_or_default(),
        })
    }
}

/// Applies `record` to `db` at `now` (Sikka's UTC stamp); `fail` forces a failure with that text.
pub fn apply(record: &Record, db: &mut Db, fail: Option<&str>, now: DateTime) -> Outcome {
    let mut outcome = Outcome {
        completed_time: now,
        error: false,
        result: String::new(),
        created_id: String::new(),
        appointment_sr_no: String::new(),
        patient_id: text(&record.body, "patient_id").unwrap_or_default(),
    };
    let applied = match fail {
        Some(reason) => Err(reason.to_owned()),
        None => apply_op(record, db, &mut outcome),
    };
    match applied {
        Ok(result) => outcome.result = result,
        Err(reason) => {
            outcome.error = true;
            outcome.result = reason;
        }
    }
    outcome
}

fn apply_op(record: &Record, db: &mut Db, out: &mut Outcome) -> Result<String, String> {
    let b = &record.body;
    let get = |k: &str| text(b, k);
    match &record.op {
        Op::Book => {
            let patient_id = get("patient_id").unwrap_or_default();
            match db.patient(&patient_id) {
                None => return Err(format!("Patient {patient_id} does not exist in PMS")),
                Some(p) if p.status != "Active" => {
                    return Err(format!("Patient {patient_id} is inactive"));
                }
                Some(_) => {}
            }
            let provider = get("provider_id").unwrap_or_default();
            check_provider(db, &provider)?;
            let operatory = get("operatory").unwrap_or_default();
            check_operatory(db, &operatory)?;
            let row = AppointmentRow {
                sr_no: db.next_appointment_id(),
                patient_id,
                provider_id: provider,
                operatory,
                date: get("date")
                    .and_then(|d| parse_date(&d))
                    .ok_or("Invalid date")?,
                time: get("time")
                    .and_then(|t| parse_time(&t))
                    .ok_or("Invalid time")?,
                length: get("length")
                    .and_then(|l| parse_length(&l))
                    .ok_or("Invalid length")?,
                status: match get("status") {
                    Some(s) => known_status(&s)?,
                    None => STATUS_SCHEDULED.into(),
                },
                description: get("description").unwrap_or_default(),
                note: get("note").unwrap_or_default(),
                kind: get("type").unwrap_or_else(|| "General".into()),
                made_date: db.today,
                last_changed: out.completed_time,
            };
            if let Some(other) = db.clash(&row) {
                return Err(overlap(&row, other));
            }
            out.created_id = row.sr_no.to_string();
            out.appointment_sr_no = row.sr_no.to_string();
            db.appointments.push(row);
            Ok("New Appointment inserted successfully".into())
        }
        Op::Update(sr_no) => {
            let mut moved = db
                .appointment_mut(sr_no)
                .ok_or_else(|| format!("Appointment {sr_no} does not exist in PMS"))?
                .clone();
            out.appointment_sr_no = sr_no.clone();
            out.patient_id = moved.patient_id.clone();
            if let Some(p) = get("provider_id") {
                check_provider(db, &p)?;
                moved.provider_id = p;
            }
            if let Some(o) = get("operatory") {
                check_operatory(db, &o)?;
                moved.operatory = o;
            }
            if let Some(d) = get("date") {
                moved.date = parse_date(&d).ok_or("Invalid date")?;
            }
            if let Some(t) = get("time") {
                moved.time = parse_time(&t).ok_or("Invalid time")?;
            }
            if let Some(l) = get("length") {
                moved.length = parse_length(&l).ok_or("Invalid length")?;
            }
            if let Some(s) = get("status") {
                moved.status = known_status(&s)?;
            } else if !holds_slot(&moved.status) {
                // Moving a cancelled or broken appointment puts it back on the schedule.
                moved.status = STATUS_SCHEDULED.into();
            }
            if let Some(other) = db.clash(&moved) {
                return Err(overlap(&moved, other));
            }
            moved.last_changed = out.completed_time;
            if let Some(slot) = db.appointment_mut(sr_no) {
                *slot = moved;
            }
            Ok("Appointment updated successfully".into())
        }
        Op::SetStatus(sr_no) => {
            let status = known_status(&get("value").unwrap_or_default())?;
            let a = db
                .appointment_mut(sr_no)
                .ok_or_else(|| format!("Appointment {sr_no} does not exist in PMS"))?;
            out.appointment_sr_no = sr_no.clone();
            out.patient_id = a.patient_id.clone();
            a.status = status;
            a.last_changed = out.completed_time;
            if let Some(note) = get("cancellation_note") {
                a.note = note;
            }
            Ok("Appointment status updated successfully".into())
        }
        Op::CreatePatient => {
            let provider = get("provider_id").unwrap_or_default();
            check_provider(db, &provider)?;
            let id = db.next_patient_id().to_string();
            let birthdate = match get("birthdate") {
                Some(d) => Some(parse_date(&d).ok_or("Invalid birthdate")?),
                None => None,
            };
            db.patients.push(PatientRow {
                patient_id: id.clone(),
                guarantor_id: get("guarantor_id").unwrap_or_else(|| id.clone()),
                firstname: get("firstname").unwrap_or_default(),
                middlename: String::new(),
                lastname: get("lastname").unwrap_or_default(),
                preferred_name: String::new(),
                birthdate,
                gender: get("gender").map(|g| capital(&g)).unwrap_or_default(),
                status: "Active".into(),
                cell: get("cell").unwrap_or_default(),
                homephone: get("homephone").unwrap_or_default(),
                workphone: get("workphone").unwrap_or_default(),
                email: get("email").unwrap_or_default(),
                provider_id: provider,
                address_line1: get("address_line1").unwrap_or_default(),
                city: get("city").unwrap_or_default(),
                state: get("state").unwrap_or_default(),
                zipcode: get("zipcode").unwrap_or_default(),
                created_date: db.today,
            });
            out.created_id = id.clone();
            out.patient_id = id;
            Ok("New Patient inserted successfully".into())
        }
        Op::UpdatePatient(id) => {
            if let Some(p) = get("provider_id") {
                check_provider(db, &p)?;
            }
            let birthdate = match get("birthdate") {
                Some(d) => Some(parse_date(&d).ok_or("Invalid birthdate")?),
                None => None,
            };
            let p = db
                .patient_mut(id)
                .ok_or_else(|| format!("Patient {id} does not exist in PMS"))?;
            out.patient_id = id.clone();
            let set = |k: &str, field: &mut String| {
                if let Some(v) = get(k) {
                    *field = v;
                }
            };
            set("firstname", &mut p.firstname);
            set("middlename", &mut p.middlename);
            set("lastname", &mut p.lastname);
            set("preferred_name", &mut p.preferred_name);
            set("provider_id", &mut p.provider_id);
            set("status", &mut p.status);
            if let Some(g) = get("gender") {
                p.gender = capital(&g);
            }
            if birthdate.is_some() {
                p.birthdate = birthdate;
            }
            Ok("Patient updated successfully".into())
        }
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn check_provider(db: &Db, provider: &str) -> Result<(), String> {
    match db.providers.iter().find(|p| p.provider_id == provider) {
        None => Err(format!("Provider {provider} does not exist in PMS")),
        Some(p) if p.status != "Active" => Err(format!("Provider {provider} is not active")),
        Some(_) => Ok(()),
    }
}

fn check_operatory(db: &Db, operatory: &str) -> Result<(), String> {
    if db.operatories.iter().any(|o| o.operatory == operatory) {
        Ok(())
    } else {
        Err(format!("Operatory {operatory} does not exist in PMS"))
    }
}

fn known_status(value: &str) -> Result<String, String> {
    APPOINTMENT_STATUSES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(value.trim()))
        .map(|s| (*s).to_owned())
        .ok_or_else(|| format!("Invalid appointment status: {value}"))
}

fn overlap(row: &AppointmentRow, other: &AppointmentRow) -> String {
    format!(
        "Appointment overlaps with existing appointment {} on {} at {} for provider {} / operatory {}",
        other.sr_no,
        sikka_date(row.date),
        super::wire::hhmm(other.time),
        other.provider_id,
        other.operatory
    )
}
