//! `cargo xtask practice add|show|list|remove` against moto: the operator's tool writes what the
//! gateway's SSM directory serves, refuses what it would skip or what collides with another
//! practice (writing nothing), and removes routes with the practice.

use std::{process::Output, sync::Arc, time::Duration};

use gateway::aws::practices::SsmDirectory;
use gateway::practices::{
    Binding, LocalOptions, MemoryCredentials, PracticeDirectory, PracticeKey,
};
use gateway_tests::{moto::Moto, unique};

struct Env {
    moto: Moto,
    /// The deployment environment's name, unique to the test.
    name: String,
}

impl Env {
    fn new() -> Self {
        Self {
            moto: Moto::start(),
            name: unique("t").replace('_', "-"),
        }
    }

    fn root(&self) -> String {
        format!("/parlae/{}", self.name)
    }

    /// `cargo xtask practice <args> --env <name>` with the standard chain pointed at moto.
    async fn xtask(&self, args: &[&str]) -> Output {
        let all: Vec<&str> = ["practice"]
            .into_iter()
            .chain(args.iter().copied())
            .chain(["--env", &self.name])
            .collect();
        self.moto.xtask(&all).await
    }

    /// Every parameter name under the environment's root.
    async fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = gateway::aws::parameters_under(&self.moto.ssm(), &self.root())
            .await
            .expect("read moto")
            .into_iter()
            .filter_map(|p| p.name)
            .collect();
        names.sort();
        names
    }

    async fn directory(&self) -> SsmDirectory {
        let options = LocalOptions {
            write_delay: Duration::ZERO,
            extra_patients: Vec::new(),
            sikka: None,
            credentials: Arc::new(MemoryCredentials::new()),
            clock: gateway_tests::clock(),
            schedule: None,
            leases: Arc::new(gateway::state::OneProcess),
        };
        SsmDirectory::load(self.moto.ssm(), &self.root(), options)
            .await
            .expect("the directory loads")
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const ADD_SANDBOX: &[&str] = &[
    "add",
    "--account",
    "acct_bright",
    "--name",
    "Bright Smile Dental",
    "--time-zone",
    "America/Los_Angeles",
    "--transfer-number",
    "(510) 555-0198",
    "--phone-number",
    "+1 510 555 0199",
    "--phone-number-id",
    "pn_bright",
    "--assistant-id",
    "asst_bright",
    "--pms",
    "sandbox",
];

#[tokio::test]
async fn an_added_practice_is_served_by_the_directory_and_shown_back() {
    let env = Env::new();
    let out = env.xtask(ADD_SANDBOX).await;
    assert!(out.status.success(), "{}", text(&out));

    let directory = env.directory().await;
    for key in [
        PracticeKey {
            phone_number_id: Some("pn_bright".into()),
            ..Default::default()
        },
        PracticeKey {
            assistant_id: Some("asst_bright".into()),
            ..Default::default()
        },
    ] {
        match directory.resolve(&key).await.unwrap() {
            Binding::Bound(p) => {
                assert_eq!(p.profile.name, "Bright Smile Dental");
                assert_eq!(p.profile.time_zone.iana_name(), Some("America/Los_Angeles"));
                assert_eq!(
                    p.transfer_destination().unwrap().as_str(),
                    "+15105550198",
                    "the number is stored normalised"
                );
            }
            _ => panic!("{key:?} does not reach the added practice"),
        }
    }
    assert_eq!(directory.stats().rejected, 0);

    let shown = env.xtask(&["show", "--account", "acct_bright"]).await;
    assert!(shown.status.success(), "{}", text(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("show prints JSON");
    assert_eq!(shown["account_id"], "acct_bright");
    assert_eq!(shown["phone_number_ids"], serde_json::json!(["pn_bright"]));
    assert_eq!(shown["assistant_ids"], serde_json::json!(["asst_bright"]));
    assert_eq!(shown["phone_numbers"], serde_json::json!(["+15105550199"]));

    let listed = env.xtask(&["list"]).await;
    assert!(listed.status.success(), "{}", text(&listed));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["practices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_bad_entry_is_refused_naming_the_problem_and_nothing_is_written() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "add",
                "--account",
                "a1",
                "--name",
                "X",
                "--time-zone",
                "Mars/Olympus",
                "--pms",
                "sandbox",
            ],
            "time zone",
        ),
        (
            &[
                "add",
                "--account",
                "a1",
                "--name",
                "X",
                "--time-zone",
                "UTC",
                "--transfer-number",
                "12",
                "--pms",
                "sandbox",
            ],
            "--transfer-number",
        ),
        (
            &[
                "add",
                "--account",
                "a1",
                "--name",
                "X",
                "--time-zone",
                "UTC",
                "--pms",
                "sikka",
                "--office-id",
                "D1",
                "--practice-id",
                "1",
            ],
            "--pms-type",
        ),
        (
            &[
                "add",
                "--account",
                "a/1",
                "--name",
                "X",
                "--time-zone",
                "UTC",
                "--pms",
                "sandbox",
            ],
            "account id",
        ),
        (
            &[
                "add",
                "--account",
                "a1",
                "--name",
                "X",
                "--time-zone",
                "UTC",
                "--pms",
                "sandbox",
                "--phone-number-id",
                "",
            ],
            "phone number id",
        ),
    ];
    for (args, says) in cases {
        let out = env.xtask(args).await;
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
    assert_eq!(env.names().await, Vec::<String>::new(), "nothing written");
}

#[tokio::test]
async fn a_route_line_or_office_of_another_practice_is_refused_and_replace_moves_routes() {
    let env = Env::new();
    let sikka = |account: &'static str, office: &'static str, pn: &'static str| {
        vec![
            "add",
            "--account",
            account,
            "--name",
            "Practice",
            "--time-zone",
            "America/New_York",
            "--phone-number-id",
            pn,
            "--office-id",
            office,
            "--practice-id",
            "1",
            "--pms-type",
            "Dentrix",
        ]
    };
    let first = env.xtask(&sikka("acct_a", "D100", "pn_a")).await;
    assert!(first.status.success(), "{}", text(&first));
    let before = env.names().await;

    for (args, says) in [
        (sikka("acct_b", "D200", "pn_a"), "acct_a"),
        (sikka("acct_b", "D100", "pn_b"), "D100"),
        (sikka("acct_a", "D100", "pn_a"), "--replace"),
    ] {
        let out = env.xtask(&args).await;
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
        assert_eq!(env.names().await, before, "a refused add writes nothing");
    }

    let mut replace = sikka("acct_a", "D100", "pn_a2");
    replace.push("--replace");
    let out = env.xtask(&replace).await;
    assert!(out.status.success(), "{}", text(&out));
    let root = env.root();
    assert_eq!(
        env.names().await,
        vec![
            format!("{root}/practices/acct_a"),
            format!("{root}/routes/phone/pn_a2"),
        ],
        "the replaced practice's old route is gone"
    );
}

#[tokio::test]
async fn remove_deletes_the_routes_and_the_practice_and_only_them() {
    let env = Env::new();
    assert!(env.xtask(ADD_SANDBOX).await.status.success());
    let other = env
        .xtask(&[
            "add",
            "--account",
            "acct_other",
            "--name",
            "Other",
            "--time-zone",
            "UTC",
            "--phone-number-id",
            "pn_other",
            "--pms",
            "sandbox",
        ])
        .await;
    assert!(other.status.success(), "{}", text(&other));

    let out = env.xtask(&["remove", "--account", "acct_bright"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let root = env.root();
    assert_eq!(
        env.names().await,
        vec![
            format!("{root}/practices/acct_other"),
            format!("{root}/routes/phone/pn_other"),
        ]
    );
    let again = env.xtask(&["remove", "--account", "acct_bright"]).await;
    assert!(!again.status.success());
    assert!(
        text(&again).contains("no practice acct_bright"),
        "{}",
        text(&again)
    );
    let directory = env.directory().await;
    let key = PracticeKey {
        phone_number_id: Some("pn_bright".into()),
        ..Default::default()
    };
    assert!(matches!(
        directory.resolve(&key).await.unwrap(),
        Binding::NotSetUp
    ));
}
