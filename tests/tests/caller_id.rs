//! Callers are recognised by their own number however the practice's system stored it: in any
//! common format, in the cell, home or work field, with an extension, outside North America,
//! and a household sharing a number is offered every member's first name. On the Sikka backend
//! the emulator keeps these numbers as typed and filters on the stored text, as PMSs do.

use gateway_tests::{Backend, Caller, TestApp, both};
use serde_json::{Value, json};

/// (first, last, birth date, mobile, home, work): as the front desk typed them.
type Seed = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

const ALONE: [(Seed, &str); 6] = [
    (
        (
            "Ruth",
            "Alvarez",
            "1971-02-03",
            Some("(303) 555-0175"),
            None,
            None,
        ),
        "+13035550175",
    ),
    (
        (
            "Omar",
            "Quinn",
            "1980-05-06",
            Some("720.555.0192"),
            None,
            None,
        ),
        "+17205550192",
    ),
    (
        (
            "Lena",
            "Park",
            "1990-07-08",
            Some("+17205550121"),
            None,
            None,
        ),
        "+17205550121",
    ),
    (
        (
            "Hugo",
            "Reyes",
            "1965-09-10",
            None,
            Some("720-555-0133"),
            None,
        ),
        "+17205550133",
    ),
    (
        (
            "Nina",
            "Ford",
            "1988-11-12",
            None,
            None,
            Some("(720) 555-0144 x12"),
        ),
        "+17205550144",
    ),
    (
        (
            "Ivy",
            "Moss",
            "1979-01-02",
            Some("+44 20 7946 0958"),
            None,
            None,
        ),
        "+442079460958",
    ),
];

/// One number, typed three ways for three members of a household.
const HOUSEHOLD: [Seed; 3] = [
    (
        "Tom",
        "Ward",
        "1975-03-04",
        Some("415-555-0166"),
        None,
        None,
    ),
    (
        "Amy",
        "Ward",
        "1977-04-05",
        Some("(415) 555-0166"),
        None,
        None,
    ),
    ("Ben", "Ward", "2010-06-07", None, Some("4155550166"), None),
];
const HOUSEHOLD_NUMBER: &str = "+14155550166";

async fn spawn(backend: Backend) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("extra-patients.json");
    let seeds: Vec<Value> = ALONE
        .iter()
        .map(|(seed, _)| seed)
        .chain(HOUSEHOLD.iter())
        .map(|(first, last, dob, cell, home, work)| {
            json!({"first_name": first, "last_name": last, "birth_date": dob,
                   "phone": cell, "home_phone": home, "work_phone": work})
        })
        .collect();
    std::fs::write(&file, Value::from(seeds).to_string()).unwrap();
    let app = TestApp::spawn_on(
        backend,
        &[("SANDBOX_EXTRA_PATIENTS", file.to_str().unwrap())],
    )
    .await;
    (app, dir)
}

async fn every_caller_is_recognised_however_their_number_was_stored(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    for ((first, ..), calling_from) in ALONE {
        let who = app
            .tool("search_patients", json!({}), &Caller::from(calling_from))
            .await
            .json();
        assert_eq!(
            who["verified"], true,
            "{first} calling from {calling_from}: {who}"
        );
        assert_eq!(who["first_name"], first, "{who}");
    }
}

async fn a_household_is_offered_every_member_whatever_the_format(backend: Backend) {
    let (app, _dir) = spawn(backend).await;
    let v = app
        .tool(
            "search_patients",
            json!({}),
            &Caller::from(HOUSEHOLD_NUMBER),
        )
        .await
        .json();
    assert_eq!(v["verified"], false, "{v}");
    let mut names: Vec<&str> = v["household_first_names"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Amy", "Ben", "Tom"], "{v}");
}

both!(
    every_caller_is_recognised_however_their_number_was_stored,
    a_household_is_offered_every_member_whatever_the_format,
);
