//! The emulated practice's data, held the way a PMS behind Sikka would show it: strings where
//! Sikka has strings, phones in a PMS format (`310-555-0100`), status words instead of enums.
//! Seeded from the sandbox fixture, so ids, names, schedule and appointments are the sandbox's.

use gateway::pms::sandbox::{SANDBOX_PRACTICE_NAME, fixture};
use gateway::pms::{AppointmentStatus, E164, OpenBlock, Patient};
use jiff::civil::{Date, DateTime, Time};
use jiff::{Span, ToSpan};

use super::SikkaOptions;

/// The sandbox numbers its fixture appointments from here (`sandbox::FIRST_APPOINTMENT_ID`,
/// private to the app); `tests/tests/sikka_emulator/` checks the two still agree.
pub const FIRST_APPOINTMENT_ID: u64 = 50_001;

/// The practice's appointment status words (its `practice_variables`, service "Appointment
/// Status", and `appointment_statuses`).
pub const STATUS_SCHEDULED: &str = "Scheduled";
pub const STATUS_CONFIRMED: &str = "Confirmed";
pub const STATUS_COMPLETED: &str = "Complete";
pub const STATUS_CANCELLED: &str = "Cancelled";
pub const STATUS_BROKEN: &str = "Broken";
pub const APPOINTMENT_STATUSES: [&str; 5] = [
    STATUS_SCHEDULED,
    STATUS_CONFIRMED,
    STATUS_COMPLETED,
    STATUS_CANCELLED,
    STATUS_BROKEN,
];
/// Appointment types offered as `practice_variables` (service "Appointment Type").
pub const APPOINTMENT_TYPES: [&str; 4] = ["General", "Hygiene", "Emergency", "New Patient"];

/// Whether an appointment with this status still occupies its slot.
pub fn holds_slot(status: &str) -> bool {
    !["cancelled", "canceled", "broken"].contains(&status.trim().to_lowercase().as_str())
}

/// A phone number the way Dentrix-like systems store it: `310-555-0100` for North American
/// numbers, the E.164 text otherwise. Deliberately not E.164.
pub fn pms_phone(phone: &E164) -> String {
    let s = phone.as_str();
    match s.strip_prefix("+1") {
        Some(d) if d.len() == 10 => format!("{}-{}-{}", &d[..3], &d[3..6], &d[6..]),
        _ => s.to_owned(),
    }
}

#[derive(Debug, Clone)]
pub struct PatientRow {
    pub patient_id: String,
    pub guarantor_id: String,
    pub firstname: String,
    pub middlename: String,
    pub lastname: String,
    pub preferred_name: String,
    pub birthdate: Option<Date>,
    pub gender: String,
    /// `Active` / `Inactive`.
    pub status: String,
    pub cell: String,
    pub homephone: String,
    pub workphone: String,
    pub email: String,
    pub provider_id: String,
    pub address_line1: String,
    pub city: String,
    pub state: String,
    pub zipcode: String,
    pub created_date: Date,
}

#[derive(Debug, Clone)]
pub struct AppointmentRow {
    pub sr_no: u64,
    pub patient_id: String,
    pub provider_id: String,
    pub operatory: String,
    pub date: Date,
    pub time: Time,
    pub length: u32,
    pub status: String,
    pub description: String,
    pub note: String,
    pub kind: String,
    pub made_date: Date,
    pub last_changed: DateTime,
}

impl AppointmentRow {
    pub fn start(&self) -> DateTime {
        self.date.to_datetime(self.time)
    }

    pub fn end(&self) -> DateTime {
        self.start() + Span::new().minutes(i64::from(self.length))
    }
}

#[derive(Debug, Clone)]
pub struct ProviderRow {
    pub provider_id: String,
    pub firstname: String,
    pub lastname: String,
    /// `Dentist`, `Hygienist`.
    pub specialty: String,
    /// `Active` / `Inactive`.
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct OperatoryRow {
    /// The id writebacks take (`OP1`).
    pub operatory: String,
    /// The display name (`Operatory 1`), shown as `abbreviation`.
    pub name: String,
    pub hidden: bool,
}

/// The practice as its PMS holds it.
#[derive(Debug, Clone)]
pub struct Db {
    pub today: Date,
    pub practice_name: String,
    pub providers: Vec<ProviderRow>,
    pub operatories: Vec<OperatoryRow>,
    /// Open blocks by weekday, Monday first (the sandbox's weekly schedule).
    pub schedule: [Vec<OpenBlock>; 7],
    pub patients: Vec<PatientRow>,
    pub appointments: Vec<AppointmentRow>,
}

fn split_name(display: &str) -> (String, String) {
    let bare = display.strip_prefix("Dr. ").unwrap_or(display);
    let bare = bare.split(',').next().unwrap_or(bare).trim();
    match bare.rsplit_once(' ') {
        Some((first, last)) => (first.to_owned(), last.to_owned()),
        None => (String::new(), bare.to_owned()),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn patient_row(p: &Patient, created: Date) -> PatientRow {
    let phones = p.phones.expose();
    PatientRow {
        patient_id: p.id.to_string(),
        guarantor_id: p
            .guarantor_id
            .as_ref()
            .map_or_else(|| p.id.to_string(), ToString::to_string),
        firstname: p.first_name.expose().clone(),
        middlename: String::new(),
        lastname: p.last_name.expose().clone(),
        preferred_name: p
            .preferred_name
            .as_ref()
            .map(|n| n.expose().clone())
            .unwrap_or_default(),
        birthdate: p.birth_date.as_ref().map(|d| *d.expose()),
        gender: String::new(),
        status: if p.active { "Active" } else { "Inactive" }.into(),
        cell: phones.first().map(pms_phone).unwrap_or_default(),
        homephone: phones.get(1).map(pms_phone).unwrap_or_default(),
        workphone: phones.get(2).map(pms_phone).unwrap_or_default(),
        email: p
            .email
            .as_ref()
            .map(|e| e.expose().clone())
            .unwrap_or_default(),
        provider_id: p
            .provider_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        address_line1: String::new(),
        city: "Los Angeles".into(),
        state: "CA".into(),
        zipcode: "90012".into(),
        created_date: created,
    }
}

pub fn status_word(status: &AppointmentStatus) -> String {
    match status {
        AppointmentStatus::Scheduled => STATUS_SCHEDULED.into(),
        AppointmentStatus::Confirmed => STATUS_CONFIRMED.into(),
        AppointmentStatus::Completed => STATUS_COMPLETED.into(),
        AppointmentStatus::Cancelled => STATUS_CANCELLED.into(),
        AppointmentStatus::Broken => STATUS_BROKEN.into(),
        AppointmentStatus::Other(s) => s.clone(),
    }
}

impl Db {
    pub fn seed(options: &SikkaOptions) -> Self {
        let today = options.today;
        let mut patients = fixture::patients();
        let appointments = fixture::appointments(today, FIRST_APPOINTMENT_ID, &patients);
        let first_extra = u64::from(fixture::FIRST_PATIENT_ID) + patients.len() as u64;
        for (number, seed) in (first_extra..).zip(&options.extra_patients) {
            let id = gateway::pms::PatientId::new(number.to_string());
            patients.push(Patient {
                id: id.clone(),
                first_name: seed.first_name.clone().into(),
                last_name: seed.last_name.clone().into(),
                preferred_name: None,
                birth_date: Some(seed.birth_date.into()),
                phones: seed.phones().expect("extra patient's phones").into(),
                email: seed.email.clone().map(Into::into),
                guarantor_id: Some(id),
                provider_id: Some(gateway::pms::ProviderId::new(fixture::DR_LEE)),
                active: true,
            });
        }
        let created = today - 400.days();
        let mut patients: Vec<PatientRow> =
            patients.iter().map(|p| patient_row(p, created)).collect();
        // Extra patients keep their numbers as typed, in the field given: PMSs store the front
        // desk's text, and Sikka's phone filters compare it as it is.
        let extra = patients.len() - options.extra_patients.len();
        for (row, seed) in patients[extra..].iter_mut().zip(&options.extra_patients) {
            row.cell = seed.phone.clone().unwrap_or_default();
            row.homephone = seed.home_phone.clone().unwrap_or_default();
            row.workphone = seed.work_phone.clone().unwrap_or_default();
        }
        let providers = fixture::providers()
            .into_iter()
            .map(|p| {
                let (firstname, lastname) = split_name(&p.display_name);
                ProviderRow {
                    provider_id: p.id.to_string(),
                    firstname,
                    lastname,
                    specialty: capitalised(&p.role),
                    status: if p.active { "Active" } else { "Inactive" }.into(),
                }
            })
            .collect();
        let operatories = fixture::operatories()
            .into_iter()
            .map(|o| OperatoryRow {
                operatory: o.id.to_string(),
                name: o.name,
                hidden: o.hidden,
            })
            .collect();
        let appointments = appointments
            .into_iter()
            .map(|a| {
                let date = a.start.date();
                let made = date - 14.days();
                AppointmentRow {
                    sr_no: a.id.as_str().parse().expect("numeric fixture ids"),
                    patient_id: a.patient_id.to_string(),
                    provider_id: a.provider_id.to_string(),
                    operatory: a
                        .operatory_id
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    date,
                    time: a.start.time(),
                    length: a.length_minutes,
                    status: status_word(&a.status),
                    description: a
                        .description
                        .as_ref()
                        .map(|d| d.expose().clone())
                        .unwrap_or_default(),
                    note: String::new(),
                    kind: if a.provider_id.as_str() == fixture::HYGIENIST_SHAH {
                        "Hygiene"
                    } else {
                        "General"
                    }
                    .into(),
                    made_date: made,
                    last_changed: made.to_datetime(Time::constant(9, 0, 0, 0)),
                }
            })
            .collect();
        Self {
            today,
            practice_name: SANDBOX_PRACTICE_NAME.into(),
            providers,
            operatories,
            schedule: options
                .schedule
                .clone()
                .unwrap_or_else(fixture::weekly_schedule),
            patients,
            appointments,
        }
    }

    pub fn patient(&self, id: &str) -> Option<&PatientRow> {
        self.patients.iter().find(|p| p.patient_id == id)
    }

    pub fn patient_mut(&mut self, id: &str) -> Option<&mut PatientRow> {
        self.patients.iter_mut().find(|p| p.patient_id == id)
    }

    pub fn appointment_mut(&mut self, sr_no: &str) -> Option<&mut AppointmentRow> {
        let n: u64 = sr_no.trim().parse().ok()?;
        self.appointments.iter_mut().find(|a| a.sr_no == n)
    }

    pub fn next_patient_id(&self) -> u64 {
        self.patients
            .iter()
            .filter_map(|p| p.patient_id.parse::<u64>().ok())
            .max()
            .map_or(1, |m| m + 1)
    }

    pub fn next_appointment_id(&self) -> u64 {
        self.appointments
            .iter()
            .map(|a| a.sr_no)
            .max()
            .map_or(FIRST_APPOINTMENT_ID, |m| m + 1)
    }

    /// The slot-holding appointment `candidate` would overlap for its provider or operatory.
    pub fn clash(&self, candidate: &AppointmentRow) -> Option<&AppointmentRow> {
        if !holds_slot(&candidate.status) {
            return None;
        }
        let (start, end) = (candidate.start(), candidate.end());
        self.appointments.iter().find(|b| {
            b.sr_no != candidate.sr_no
                && holds_slot(&b.status)
                && b.start() < end
                && start < b.end()
                && (b.provider_id == candidate.provider_id
                    || (!candidate.operatory.is_empty() && b.operatory == candidate.operatory))
        })
    }

    /// Open blocks of each day (Monday first), per provider, merged for the practice as a whole.
    pub fn practice_blocks(&self, weekday: usize) -> Vec<(Time, Time)> {
        let mut spans: Vec<(Time, Time)> = self.schedule[weekday]
            .iter()
            .map(|b| (b.start, b.end))
            .collect();
        spans.sort();
        let mut merged: Vec<(Time, Time)> = Vec::new();
        for (s, e) in spans {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    pub fn provider_blocks(&self, weekday: usize, provider: &str) -> Vec<(Time, Time)> {
        self.schedule[weekday]
            .iter()
            .filter(|b| {
                b.provider_id
                    .as_ref()
                    .is_none_or(|p| p.as_str() == provider)
            })
            .map(|b| (b.start, b.end))
            .collect()
    }
}
