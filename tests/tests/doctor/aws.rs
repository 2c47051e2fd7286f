//! The doctor on the `aws` profile against moto: through the route of a gateway on the
//! environment and through `cargo xtask doctor`, which reads the same stores in-process. Each
//! fault is named with its next step: an unknown practice, a practice with no route, its secret
//! deleted, its agent not synced.

use std::time::Duration;

use gateway_tests::{Caller, aws_rig::Rig, eventually, fixture};
use serde_json::{Value, json};

use crate::common::*;

/// `cargo xtask doctor --env <env> --account <account> [extra]`: (success, stdout, stderr).
async fn doctor(rig: &Rig, account: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["doctor", "--env", &rig.env_name, "--account", account];
    args.extend(extra);
    let out = rig.moto.xtask(&args).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `check` in the doctor's output, and the next-step line after it (if any).
fn line_of<'a>(out: &'a str, check: &str) -> (&'a str, Option<&'a str>) {
    let mut lines = out.lines();
    while let Some(line) = lines.next() {
        if line.split_whitespace().nth(1) == Some(check) {
            let next = lines.next().filter(|l| l.trim_start().starts_with('→'));
            return (line, next);
        }
    }
    panic!("no {check} line in:\n{out}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_the_route_and_the_xtask_examine_a_practice_and_name_each_fault() {
    let rig = Rig::new().await;
    // The one required setting the rig gives its gateways in their environment: in SSM, as
    // Terraform's config module writes it, for the xtask to read the settings a gateway reads.
    rig.moto
        .ssm()
        .put_parameter()
        .name(format!(
            "/parlae/{}/backend/VAPI_WEBHOOK_SECRET",
            rig.env_name
        ))
        .value("canary-doctor-vapi-secret")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .expect("seed the Vapi secret setting");
    rig.sikka_practice("America/New_York").await;
    let app = rig.gateway().await;
    rig.onboard(&app).await;

    // Healthy, through the route (the aws profile runs on the system clock)...
    let token = rig
        .pool
        .token(gateway::clock::Clock::system().now().as_second());
    let (status, report) = health_with(&app, "acct_a", Some(&token)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["verdict"], "ok", "{report}");
    assert_eq!(verdict(&report, "credentials").0, "ok");
    let (status, _) = health_with(&app, "acct_a", None).await;
    assert_eq!(status, 401);

    // ...and through the xtask: one line per check, exit 0.
    let (ok, out, err) = doctor(&rig, "acct_a", &[]).await;
    assert!(ok, "{out}\n{err}");
    for check in [
        "profile",
        "credentials",
        "schedule",
        "sync_agent",
        "writebacks",
    ] {
        let (line, next) = line_of(&out, check);
        assert!(line.starts_with("ok "), "{line}");
        assert!(next.is_none(), "{out}");
    }
    let (ok, json, err) = doctor(&rig, "acct_a", &["--json"]).await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&json).expect("--json prints the report");
    assert_eq!(report["verdict"], "ok");
    assert_eq!(report["checks"].as_array().unwrap().len(), 5);

    // A booking: the doctor finds it in the ledger (the state table), applied.
    let olivia = Caller {
        number: Some(fixture::OLIVIA.phone.into()),
        ..Caller::at("acct_a", "pn_a")
    };
    let day = fixture::light_day();
    let slots = app
        .tool(
            "check_availability",
            json!({"date": day.to_string(), "max_results": 5}),
            &olivia,
        )
        .await
        .json();
    let slot = &slots["slots"][0];
    app.tool(
        "book_appointment",
        json!({"date": day.to_string(), "time": slot["time"], "provider_id": slot["provider_id"], "reason": "cleaning"}),
        &olivia,
    )
    .await;
    let applied = eventually(Duration::from_secs(30), || async {
        let (_, out, _) = doctor(&rig, "acct_a", &[]).await;
        let line = line_of(&out, "writebacks").0.to_owned();
        line.contains("was applied").then_some(line)
    })
    .await
    .expect("the doctor sees the booking applied");
    assert!(
        applied.starts_with("ok") && applied.contains("book_appointment"),
        "{applied}"
    );
    assert!(!applied.contains("Olivia"), "{applied}");

    // An unknown practice: the profile fails, the rest is skipped, exit non-zero.
    let (ok, out, _) = doctor(&rig, "acct_nobody", &[]).await;
    assert!(!ok);
    let (line, next) = line_of(&out, "profile");
    assert!(
        line.starts_with("failed") && line.contains("no practice acct_nobody"),
        "{line}"
    );
    assert!(next.unwrap().contains("cargo xtask practice add"), "{out}");
    assert!(line_of(&out, "schedule").0.starts_with("skipped"), "{out}");

    // A practice no route leads to: a warning, not a failure.
    rig.practice(&[
        "--account",
        "acct_b",
        "--name",
        "Quiet Dental",
        "--time-zone",
        "America/Chicago",
        "--pms",
        "sandbox",
    ])
    .await;
    let (ok, out, err) = doctor(&rig, "acct_b", &[]).await;
    assert!(ok, "{out}\n{err}");
    let (line, next) = line_of(&out, "profile");
    assert!(
        line.starts_with("warning") && line.contains("calls cannot reach it"),
        "{line}"
    );
    assert!(next.unwrap().contains("--phone-number-id"), "{out}");

    // The practice's agent has not synced.
    rig.sikka.knobs().set_sync_status(Some("not_refresh"));
    let (ok, out, _) = doctor(&rig, "acct_a", &[]).await;
    assert!(!ok);
    let (line, next) = line_of(&out, "sync_agent");
    assert!(line.starts_with("failed"), "{line}");
    assert!(
        next.unwrap().contains("has not synced for over 24 hours"),
        "{out}"
    );
    rig.sikka.knobs().set_sync_status(None);

    // Its secret deleted: the credentials fail, the schedule is skipped.
    rig.moto
        .secrets()
        .delete_secret()
        .secret_id(format!("parlae/{}/pms/sikka/acct_a", rig.env_name))
        .force_delete_without_recovery(true)
        .send()
        .await
        .expect("delete the practice's secret");
    let (ok, out, _) = doctor(&rig, "acct_a", &[]).await;
    assert!(!ok);
    let (line, next) = line_of(&out, "credentials");
    assert!(
        line.starts_with("failed") && line.contains("no Sikka credentials"),
        "{line}"
    );
    assert!(next.unwrap().contains("authorize the application"), "{out}");
    assert!(line_of(&out, "schedule").0.starts_with("skipped"), "{out}");
    let (status, report) = health_with(&app, "acct_a", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(verdict(&report, "credentials").0, "failed", "{report}");

    // Each read through the route is audited as an admin read of the practice.
    let reads = app
        .audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == "practice_health" && e["account_id"] == "acct_a")
        .count();
    assert_eq!(reads, 2);
}
