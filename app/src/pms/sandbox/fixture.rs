//! The sandbox practice's fixed data: providers, operatories, the weekly schedule, about fifty
//! patients (one family sharing a phone, one inactive patient) and the appointments placed
//! relative to "today" by a seeded generator, so every run with the same `today` is identical.

use jiff::Span;
use jiff::civil::{Date, DateTime, Time, Weekday};

use crate::pms::{
    Appointment, AppointmentId, AppointmentStatus, E164, OpenBlock, Operatory, OperatoryId,
    Patient, PatientId, Phi, Provider, ProviderId,
};

/// Dr. Maya Lee, dentist: Mon–Fri 08–12 and 13–17, Sat 09–13.
pub const DR_LEE: &str = "DDS1";
/// Dr. Samuel Ortiz, dentist: Mon–Thu 08–12 and 13–17, Fri 08–12 only, no Saturday.
pub const DR_ORTIZ: &str = "DDS2";
/// Priya Shah, RDH, hygienist: Tue–Fri 08–12 and 13–17, Sat 09–13, no Monday.
pub const HYGIENIST_SHAH: &str = "HYG1";
/// The operatory that exists but is hidden: never offered.
pub const HIDDEN_OPERATORY: &str = "OP4";
/// The number the Garcia family shares (guarantor Daniel, Elena, Sofia, Mateo).
pub const FAMILY_PHONE: &str = "+13235550190";
/// The first patient id; built-in patients are numbered consecutively from here.
pub const FIRST_PATIENT_ID: u32 = 1001;

pub fn providers() -> Vec<Provider> {
    let p = |id: &str, name: &str, role: &str| Provider {
        id: ProviderId::new(id),
        display_name: name.into(),
        role: role.into(),
        active: true,
    };
    vec![
        p(DR_LEE, "Dr. Maya Lee", "dentist"),
        p(DR_ORTIZ, "Dr. Samuel Ortiz", "dentist"),
        p(HYGIENIST_SHAH, "Priya Shah, RDH", "hygienist"),
    ]
}

pub fn operatories() -> Vec<Operatory> {
    let o = |id: &str, name: &str, hidden: bool| Operatory {
        id: OperatoryId::new(id),
        name: name.into(),
        hidden,
    };
    vec![
        o("OP1", "Operatory 1", false),
        o("OP2", "Operatory 2", false),
        o("OP3", "Hygiene Room", false),
        o(HIDDEN_OPERATORY, "Storage (hidden)", true),
    ]
}

/// Each provider's usual operatory, used by the generated appointments.
fn home_operatory(provider: &str) -> &'static str {
    match provider {
        DR_LEE => "OP1",
        DR_ORTIZ => "OP2",
        _ => "OP3",
    }
}

/// Open blocks for each weekday, Monday first; Sunday is closed.
pub fn weekly_schedule() -> [Vec<OpenBlock>; 7] {
    let t = |h: i8| Time::constant(h, 0, 0, 0);
    let block = |id: &str, s: i8, e: i8| OpenBlock {
        provider_id: Some(ProviderId::new(id)),
        start: t(s),
        end: t(e),
    };
    let full = |id: &str| vec![block(id, 8, 12), block(id, 13, 17)];
    let weekday = |ids: &[&str]| ids.iter().flat_map(|id| full(id)).collect::<Vec<_>>();
    let mut friday = weekday(&[DR_LEE]);
    friday.push(block(DR_ORTIZ, 8, 12));
    friday.extend(full(HYGIENIST_SHAH));
    [
        weekday(&[DR_LEE, DR_ORTIZ]),
        weekday(&[DR_LEE, DR_ORTIZ, HYGIENIST_SHAH]),
        weekday(&[DR_LEE, DR_ORTIZ, HYGIENIST_SHAH]),
        weekday(&[DR_LEE, DR_ORTIZ, HYGIENIST_SHAH]),
        friday,
        vec![block(DR_LEE, 9, 13), block(HYGIENIST_SHAH, 9, 13)],
        Vec::new(),
    ]
}

/// (first, last, birth date); patient `i` gets id `FIRST_PATIENT_ID + i`.
const PEOPLE: [(&str, &str, &str); 50] = [
    ("Olivia", "Bennett", "1985-03-14"),
    ("Liam", "Carter", "1979-11-02"),
    ("Emma", "Nguyen", "1992-06-21"),
    ("Noah", "Patel", "1968-01-30"),
    ("Ava", "Robinson", "2001-09-09"),
    ("Daniel", "Garcia", "1980-04-12"),
    ("Elena", "Garcia", "1982-08-25"),
    ("Sofia", "Garcia", "2012-02-17"),
    ("Mateo", "Garcia", "2015-10-05"),
    ("Isabella", "Kim", "1974-12-19"),
    ("James", "Walker", "1958-07-07"),
    ("Mia", "Hernandez", "1996-05-28"),
    ("Benjamin", "Wright", "1988-10-15"),
    ("Charlotte", "Lopez", "1963-03-03"),
    ("Lucas", "Hill", "2004-01-22"),
    ("Amelia", "Scott", "1990-09-30"),
    ("Henry", "Green", "1971-06-11"),
    ("Harper", "Adams", "1999-12-01"),
    ("Alexander", "Baker", "1983-02-08"),
    ("Evelyn", "Gonzalez", "1955-04-16"),
    ("Michael", "Nelson", "1977-08-04"),
    ("Abigail", "Mitchell", "1994-11-23"),
    ("Ethan", "Perez", "1986-07-19"),
    ("Emily", "Roberts", "2007-03-27"),
    ("Jacob", "Turner", "1969-05-13"),
    ("Ella", "Phillips", "1991-01-09"),
    ("William", "Campbell", "1949-10-31"),
    ("Avery", "Parker", "1998-06-06"),
    ("Sebastian", "Evans", "1981-12-12"),
    ("Scarlett", "Edwards", "1973-09-18"),
    ("Jack", "Collins", "2010-04-04"),
    ("Grace", "Stewart", "1965-02-26"),
    ("Owen", "Sanchez", "1987-08-14"),
    ("Chloe", "Morris", "1993-05-05"),
    ("Samuel", "Rogers", "1960-11-11"),
    ("Victoria", "Reed", "1984-07-29"),
    ("David", "Cook", "1976-03-21"),
    ("Riley", "Morgan", "2002-10-10"),
    ("Joseph", "Bell", "1970-01-01"),
    ("Aria", "Murphy", "1995-08-08"),
    ("Carter", "Bailey", "1989-04-30"),
    ("Lily", "Rivera", "1997-12-24"),
    ("Wyatt", "Cooper", "1962-06-17"),
    ("Zoey", "Richardson", "2006-02-02"),
    ("John", "Cox", "1978-09-09"),
    ("Nora", "Howard", "1967-11-20"),
    ("Luke", "Ward", "1990-03-08"),
    ("Hannah", "Torres", "1985-05-19"),
    ("Walter", "Briggs", "1941-08-22"),
    ("Layla", "Peterson", "2000-07-14"),
];
/// Indexes into `PEOPLE`: the Garcia family (guarantor first) and the inactive patient.
const FAMILY: [usize; 4] = [5, 6, 7, 8];
const INACTIVE: usize = 48;

pub fn patients() -> Vec<Patient> {
    let id_of = |i: usize| PatientId::new((FIRST_PATIENT_ID + i as u32).to_string());
    PEOPLE
        .iter()
        .enumerate()
        .map(|(i, (first, last, born))| {
            let family = FAMILY.contains(&i);
            let mut phones = vec![
                if family {
                    E164::parse(FAMILY_PHONE)
                } else {
                    E164::parse(&format!("+1310555{:04}", 100 + i))
                }
                .expect("fixture phone"),
            ];
            if i % 7 == 3 {
                // A second (home) number on file for some patients.
                phones
                    .push(E164::parse(&format!("+1818555{:04}", 100 + i)).expect("fixture phone"));
            }
            let guarantor = if family { FAMILY[0] } else { i };
            Patient {
                id: id_of(i),
                first_name: Phi::new((*first).into()),
                last_name: Phi::new((*last).into()),
                preferred_name: None,
                birth_date: Some(Phi::new(born.parse().expect("fixture date"))),
                phones: Phi::new(phones),
                email: Some(Phi::new(format!(
                    "{}.{}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                ))),
                guarantor_id: Some(id_of(guarantor)),
                provider_id: Some(ProviderId::new(if i % 2 == 0 { DR_LEE } else { DR_ORTIZ })),
                active: i != INACTIVE,
            }
        })
        .collect()
}

/// The first Monday–Friday on or after `today + 7 days`: every provider working that day is
/// booked from the first minute of each open block to the last.
pub fn fully_booked_day(today: Date) -> Date {
    next_weekday(today + Span::new().days(7))
}

/// The first Monday–Friday after [`fully_booked_day`]: lightly booked (at least 20 free
/// 30-minute starts across providers), so "day full → alternatives" has somewhere to go.
pub fn light_day(today: Date) -> Date {
    next_weekday(fully_booked_day(today) + Span::new().days(1))
}

fn next_weekday(mut date: Date) -> Date {
    while matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) {
        date += Span::new().days(1);
    }
    date
}

/// A small linear congruential generator: deterministic fill without a `rand` dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

/// Appointments from 30 days before `today` to 30 days after: completed (some broken) in the
/// past, a realistic fill ahead with a few cancellations, one fully booked day and one light day.
/// Ids are consecutive from `first_id`.
pub fn appointments(today: Date, first_id: u64, patients: &[Patient]) -> Vec<Appointment> {
    let schedule = weekly_schedule();
    let active: Vec<&PatientId> = patients
        .iter()
        .filter(|p| p.active)
        .map(|p| &p.id)
        .collect();
    let (full, light) = (fully_booked_day(today), light_day(today));
    let mut rng = Lcg(0x5EED_B816_5111_E000);
    let mut out: Vec<Appointment> = Vec::new();
    let mut next_id = first_id;
    let mut booked = 0usize;
    for offset in -30i64..=30 {
        let date = today + Span::new().days(offset);
        let fill = match (offset < 0, date == full, date == light) {
            (_, true, _) => 100,
            (_, _, true) => 20,
            (true, _, _) => 60,
            _ => 45,
        };
        let day_start = out.len();
        for block in &schedule[date.weekday().to_monday_zero_offset() as usize] {
            let provider = block
                .provider_id
                .clone()
                .expect("fixture blocks name a provider");
            let hygiene = provider.as_str() == HYGIENIST_SHAH;
            let (start, end) = (minutes(block.start), minutes(block.end));
            let mut t = start;
            while t + 30 <= end {
                let roll = rng.next();
                let wanted = if hygiene || roll.is_multiple_of(3) {
                    60
                } else {
                    30
                };
                let length = wanted.min(end - t);
                let at = date.to_datetime(Time::constant((t / 60) as i8, (t % 60) as i8, 0, 0));
                let free = |len: i64| {
                    !out[day_start..].iter().any(|a: &Appointment| {
                        a.provider_id == provider
                            && a.status.holds_slot()
                            && a.start < at + Span::new().minutes(len)
                            && at < a.end()
                    })
                };
                let chosen = [length, 30].into_iter().find(|&len| free(len));
                let pct = (roll >> 8) % 100;
                let status = if pct >= fill {
                    (pct >= 97).then_some(AppointmentStatus::Cancelled)
                } else if offset < 0 {
                    Some(if roll.is_multiple_of(17) {
                        AppointmentStatus::Broken
                    } else {
                        AppointmentStatus::Completed
                    })
                } else if offset <= 2 {
                    Some(AppointmentStatus::Confirmed)
                } else {
                    Some(AppointmentStatus::Scheduled)
                };
                let (Some(len), Some(status)) = (chosen, status) else {
                    t += 30;
                    continue;
                };
                let descriptions: &[&str] = if hygiene {
                    &["Cleaning", "Periodontal maintenance"]
                } else {
                    &[
                        "Exam",
                        "Filling",
                        "Crown prep",
                        "Consultation",
                        "Emergency visit",
                    ]
                };
                let holds = status.holds_slot();
                out.push(Appointment {
                    id: AppointmentId::new(next_id.to_string()),
                    // Patients take turns, so every active patient has appointments ahead.
                    patient_id: active[booked % active.len()].clone(),
                    provider_id: provider.clone(),
                    operatory_id: Some(OperatoryId::new(home_operatory(provider.as_str()))),
                    start: at,
                    length_minutes: len as u32,
                    status,
                    description: Some(Phi::new(
                        descriptions[(roll >> 12) as usize % descriptions.len()].into(),
                    )),
                });
                next_id += 1;
                booked += 1;
                t += if holds { len } else { 30 };
            }
        }
    }
    out
}

fn minutes(t: Time) -> i64 {
    i64::from(t.hour()) * 60 + i64::from(t.minute())
}

/// `date` at `hh:mm`, for tests and fixtures.
pub fn at(date: Date, hour: i8, minute: i8) -> DateTime {
    date.to_datetime(Time::constant(hour, minute, 0, 0))
}
