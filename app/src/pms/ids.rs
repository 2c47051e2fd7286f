//! Identifier newtypes and the E.164 phone number. Ids are opaque strings (Sikka's ids look like
//! `"1"`, `"1-0"` or `"D36225"`); a phone number is only ever built through [`E164::parse`].

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// The gateway's tenant: one customer account, one practice.
    AccountId
);
id_type!(
    /// A Sikka office (`D36225`).
    OfficeId
);
id_type!(
    /// A patient's id in the practice's PMS.
    PatientId
);
id_type!(
    /// A provider (dentist, hygienist) in the PMS.
    ProviderId
);
id_type!(
    /// An operatory (chair) in the PMS.
    OperatoryId
);
id_type!(
    /// An appointment's id in the PMS (Sikka's `appointment_sr_no`).
    AppointmentId
);
id_type!(
    /// A queued write's id (Sikka's writeback id).
    WritebackId
);

/// A phone number in E.164 form (`+14155550123`). A caller's number is personal data: `Debug`
/// and `Display` show only the last two digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct E164(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a phone number: expected E.164 (+14155550123) or a 10-digit US number")]
pub struct InvalidPhone;

impl E164 {
    /// Normalises the forms people and PMSs write: `+1 (415) 555-0123`, `415.555.0123`,
    /// `14155550123`, `+442071838750`. Ten digits are a US/Canada number; eleven starting with
    /// 1 likewise; anything else needs a leading `+` and 8 to 15 digits.
    pub fn parse(input: &str) -> Result<Self, InvalidPhone> {
        let trimmed = input.trim();
        let plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(16);
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '+' | '/' => {}
                _ => return Err(InvalidPhone),
            }
        }
        if trimmed[usize::from(plus)..].contains('+') {
            return Err(InvalidPhone);
        }
        let normalised = match (plus, digits.len()) {
            (false, 10) if !digits.starts_with(['0', '1']) => format!("+1{digits}"),
            (_, 11) if digits.starts_with('1') && !digits[1..].starts_with(['0', '1']) => {
                format!("+{digits}")
            }
            (true, 8..=15) if !digits.starts_with('0') && !digits.starts_with('1') => {
                format!("+{digits}")
            }
            _ => return Err(InvalidPhone),
        };
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four digits, for a spoken confirmation ("the number ending in 0123").
    pub fn last_four(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        E164::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164(…{})", &self.0[self.0.len() - 2..])
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "…{}", &self.0[self.0.len() - 2..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_numbers_in_every_common_form_normalise_alike() {
        for raw in [
            "+14155550123",
            "4155550123",
            "14155550123",
            "(415) 555-0123",
            "415-555-0123",
            "415.555.0123",
            "+1 415 555 0123",
            "1-415-555-0123",
        ] {
            assert_eq!(E164::parse(raw).unwrap().as_str(), "+14155550123", "{raw}");
        }
    }

    #[test]
    fn international_numbers_need_a_plus() {
        assert_eq!(
            E164::parse("+44 20 7183 8750").unwrap().as_str(),
            "+442071838750"
        );
        assert!(E164::parse("442071838750").is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        for raw in [
            "",
            "abc",
            "555-0123",
            "+1",
            "415555012",
            "++14155550123",
            "0155550123",
            "41555501234567890",
        ] {
            assert!(E164::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn formatting_hides_the_number() {
        let n = E164::parse("+14155550123").unwrap();
        assert!(!format!("{n:?}{n}").contains("5550123"));
        assert_eq!(n.last_four(), "0123");
    }
}
