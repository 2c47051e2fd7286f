//! The tools: their names, their typed requests and the parsing of their arguments. Arguments
//! arrive as loose JSON from a language model; the parsers here turn them into domain values or
//! into an error the model can act on (what is wrong, what is expected), so it can ask the
//! caller and call again.
//!
//! Every tool is listed once, in [`tools!`]: its name as Vapi calls it, what it does to the
//! practice's records (for the audit trail) and its request type, which lives in its module under
//! `tools/` with the work it does.

use jiff::civil::{Date, Time};

use super::{
    outcome::Outcome,
    tools::{Ctx, Work, availability, booking, consent, front_desk, patients},
};
use crate::{
    audit::AuditAction,
    pms::{E164, PatientId, Phi},
};

macro_rules! tools {
    ($($variant:ident => $name:literal, $action:ident, $request:path;)*) => {
        /// Every tool the receptionist offers, named as Vapi calls them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Tool { $($variant),* }

        impl Tool {
            pub const ALL: &'static [Tool] = &[$(Tool::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Tool::$variant => $name),* }
            }

            pub fn from_name(name: &str) -> Option<Tool> {
                match name { $($name => Some(Tool::$variant),)* _ => None }
            }

            /// What the tool does to the practice's records, as the audit trail says it.
            pub fn action(self) -> AuditAction {
                match self { $(Tool::$variant => AuditAction::$action),* }
            }
        }

        /// A tool call's request, its arguments parsed.
        #[derive(Debug, Clone)]
        pub enum ToolRequest { $($variant($request)),* }

        impl ToolRequest {
            pub fn tool(&self) -> Tool {
                match self { $(Self::$variant(_) => Tool::$variant),* }
            }

            /// Does the tool's work.
            pub(super) async fn run(self, cx: &Ctx<'_>) -> Outcome {
                match self { $(Self::$variant(request) => request.run(cx).await),* }
            }
        }

        $(impl From<$request> for ToolRequest {
            fn from(request: $request) -> Self {
                Self::$variant(request)
            }
        })*
    };
}

tools! {
    CheckAvailability => "check_availability", Read, availability::CheckAvailability;
    BookAppointment => "book_appointment", Create, booking::BookAppointment;
    CancelAppointment => "cancel_appointment", Update, booking::CancelAppointment;
    RescheduleAppointment => "reschedule_appointment", Update, booking::RescheduleAppointment;
    GetAppointments => "get_appointments", Read, booking::GetAppointments;
    SearchPatients => "search_patients", Read, patients::SearchPatients;
    GetPatientInfo => "get_patient_info", Read, patients::GetPatientInfo;
    CreatePatient => "create_patient", Create, patients::CreatePatient;
    UpdatePatient => "update_patient", Update, patients::UpdatePatient;
    ListProviders => "list_providers", Read, front_desk::ListProviders;
    TransferToHuman => "transfer_to_human", Read, front_desk::TransferToHuman;
    TakeMessage => "take_message", Create, front_desk::TakeMessage;
    RecordSmsConsent => "record_sms_consent", Update, consent::RecordSmsConsent;
}

impl Tool {
    /// Whether the tool changes the practice's records (and so is never answered twice).
    pub fn writes(self) -> bool {
        self.action() != AuditAction::Read
    }
}

/// Who the caller says the patient is. Any subset may be given; verification decides.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub patient_id: Option<PatientId>,
    pub first_name: Option<Phi<String>>,
    pub last_name: Option<Phi<String>>,
    pub birth_date: Option<Phi<Date>>,
}

/// A model-readable complaint about one argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid argument `{field}`: {problem}. Ask the caller and call the tool again.")]
pub struct ArgError {
    pub field: std::borrow::Cow<'static, str>,
    pub problem: String,
}

impl ArgError {
    pub fn new(
        field: impl Into<std::borrow::Cow<'static, str>>,
        problem: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// `YYYY-MM-DD`, a calendar date in the practice's local time.
pub fn date(field: &'static str, raw: &str) -> Result<Date, ArgError> {
    let raw = raw.trim();
    let bytes = raw.as_bytes();
    let shape_ok = bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-';
    match raw.parse::<Date>() {
        Ok(d) if shape_ok => Ok(d),
        _ => Err(ArgError::new(
            field,
            format!("{raw:?} is not a date; expected YYYY-MM-DD such as 2026-12-01"),
        )),
    }
}

/// `HH:MM` on a 24-hour clock, the practice's local time. `9:00`, `09:00` and `09:00:00` pass.
pub fn time(field: &'static str, raw: &str) -> Result<Time, ArgError> {
    let raw = raw.trim();
    let err = || {
        ArgError::new(
            field,
            format!("{raw:?} is not a time; expected 24-hour HH:MM such as 09:30 or 14:00"),
        )
    };
    let mut parts = raw.split(':');
    let (Some(h), Some(m)) = (parts.next(), parts.next()) else {
        return Err(err());
    };
    let s = parts.next().unwrap_or("0");
    if parts.next().is_some() || m.len() != 2 || h.is_empty() || h.len() > 2 {
        return Err(err());
    }
    let num = |v: &str| v.parse::<i8>().map_err(|_| err());
    Time::new(num(h)?, num(m)?, num(s)?, 0).map_err(|_| err())
}

/// A visit length in minutes, 5 to 480.
pub fn length_minutes(field: &'static str, value: i64) -> Result<u32, ArgError> {
    match u32::try_from(value) {
        Ok(v @ 5..=480) => Ok(v),
        _ => Err(ArgError::new(
            field,
            format!("{value} is not a visit length; expected minutes between 5 and 480"),
        )),
    }
}

pub fn phone(field: &'static str, raw: &str) -> Result<E164, ArgError> {
    E164::parse(raw).map_err(|_| {
        ArgError::new(
            field,
            "not a phone number; expected a 10-digit US number or E.164 such as +14155550123",
        )
    })
}

/// A person's name: 1–60 letters, spaces, apostrophes, hyphens or periods.
pub fn name(field: &'static str, raw: &str) -> Result<Phi<String>, ArgError> {
    let trimmed = raw.trim();
    let ok = !trimmed.is_empty()
        && trimmed.chars().count() <= 60
        && trimmed
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '\'' | '-' | '.' | '’'));
    if ok {
        Ok(Phi::new(trimmed.to_owned()))
    } else {
        Err(ArgError::new(
            field,
            "expected a person's name (letters, spaces, hyphens, apostrophes)",
        ))
    }
}

pub fn email(field: &'static str, raw: &str) -> Result<Phi<String>, ArgError> {
    let trimmed = raw.trim();
    let valid = trimmed.len() <= 254
        && !trimmed.contains(char::is_whitespace)
        && trimmed.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(Phi::new(trimmed.to_owned()))
    } else {
        Err(ArgError::new(
            field,
            "not an email address; expected something like name@example.com",
        ))
    }
}

/// A free-text note (reason for visit, cancellation reason): up to 200 characters.
pub fn note(field: &'static str, raw: &str) -> Result<Phi<String>, ArgError> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > 200 {
        return Err(ArgError::new(
            field,
            "too long; keep it under 200 characters",
        ));
    }
    Ok(Phi::new(trimmed.to_owned()))
}

/// An id as given by an earlier tool result: 1–64 visible characters.
pub fn id(field: &'static str, raw: &str) -> Result<String, ArgError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.len() > 64 || !trimmed.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ArgError::new(
            field,
            "expected the id exactly as a previous tool result gave it",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_round_trip_and_fit_vapi_rules() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(*tool));
            assert!(
                tool.name().len() <= 64
                    && tool
                        .name()
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
            );
        }
        assert_eq!(Tool::from_name("drop_tables"), None);
    }

    #[test]
    fn dates_and_times_say_what_is_expected() {
        assert_eq!(
            date("date", "2026-12-01").unwrap(),
            jiff::civil::date(2026, 12, 1)
        );
        let err = date("date", "next tuesday").unwrap_err();
        assert!(err.to_string().contains("expected YYYY-MM-DD"), "{err}");
        assert!(date("date", "2026-02-30").is_err());
        assert_eq!(time("time", "9:05").unwrap(), jiff::civil::time(9, 5, 0, 0));
        assert_eq!(
            time("time", "14:00:00").unwrap(),
            jiff::civil::time(14, 0, 0, 0)
        );
        for bad in ["9am", "25:00", "9:5", "", "09:00:00:00"] {
            assert!(time("time", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lengths_names_and_emails_are_bounded() {
        assert_eq!(length_minutes("length_minutes", 30), Ok(30));
        assert!(length_minutes("length_minutes", 0).is_err());
        assert!(length_minutes("length_minutes", 100_000).is_err());
        assert!(name("first_name", "Mary-Jo O'Neil").is_ok());
        assert!(name("first_name", "Robert'); DROP").is_err());
        assert!(email("email", "a@b.co").is_ok());
        assert!(email("email", "a@b").is_err());
    }
}
