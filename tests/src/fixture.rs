//! Facts of the sandbox practice the tests rely on (its documented fixture), and the practice's
//! calendar computed the way the sandbox computes it.

use jiff::{
    ToSpan,
    civil::{Date, Weekday},
    tz::TimeZone,
};

pub const TIME_ZONE: &str = "America/Los_Angeles";
pub const PRACTICE_NAME: &str = "Bright Smile Dental";
pub const TRANSFER_NUMBER: &str = "+15105550198";
/// Where the demo practice's front-desk messages are texted.
pub const STAFF_SMS_NUMBER: &str = "+15105550197";
pub const DR_LEE: &str = "DDS1";
pub const DR_ORTIZ: &str = "DDS2";
pub const HYGIENIST: &str = "HYG1";

/// A patient of the sandbox: id, first, last, date of birth, phone.
pub struct Person {
    pub id: &'static str,
    pub first: &'static str,
    pub last: &'static str,
    pub dob: &'static str,
    pub phone: &'static str,
}

pub const OLIVIA: Person = Person {
    id: "1001",
    first: "Olivia",
    last: "Bennett",
    dob: "1985-03-14",
    phone: "+13105550100",
};
pub const NOAH: Person = Person {
    id: "1004",
    first: "Noah",
    last: "Patel",
    dob: "1968-01-30",
    phone: "+13105550103",
};
/// The Garcia family shares one phone.
pub const FAMILY_PHONE: &str = "+13235550190";
pub const DANIEL: Person = Person {
    id: "1006",
    first: "Daniel",
    last: "Garcia",
    dob: "1980-04-12",
    phone: FAMILY_PHONE,
};
pub const SOFIA: Person = Person {
    id: "1008",
    first: "Sofia",
    last: "Garcia",
    dob: "2012-02-17",
    phone: FAMILY_PHONE,
};

/// The practice's today.
pub fn today() -> Date {
    crate::clock()
        .now()
        .to_zoned_datetime(TimeZone::get(TIME_ZONE).unwrap())
        .date()
}

fn next_weekday(mut d: Date) -> Date {
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
        d = d.tomorrow().unwrap();
    }
    d
}

/// The first weekday on or after today + 7: every provider is fully booked.
pub fn full_day() -> Date {
    next_weekday(today() + 7.days())
}

/// The weekday after the full day: at least 20 free 30-minute slots.
pub fn light_day() -> Date {
    next_weekday(full_day().tomorrow().unwrap())
}

/// The `n`th weekday after the light day (distinct days for independent bookings).
pub fn open_day(n: i64) -> Date {
    let mut d = light_day();
    for _ in 0..n {
        d = next_weekday(d.tomorrow().unwrap());
    }
    d
}
