//! `cargo xtask vapi-sync`: the gateway's tools created or updated in a Vapi organisation
//! through Vapi's API, here a fake of it (`gateway_tests::vapi_api`) that validates every body
//! against Vapi's own schemas and answers only the organisation's key. An empty organisation
//! gets every tool; a second run writes nothing; a tool edited in Vapi is patched back, and
//! reported; `--check` writes nothing and fails on a difference; a missing key, a refused key and
//! Vapi failing each stop the run with an error that says so.

use std::process::{Command, Output};

use gateway_tests::{
    gateway_bin,
    vapi_api::{API_KEY, FakeVapi},
    xtask_bin,
};
use serde_json::{Value, json};

const BASE_URL: &str = "https://gw.example.com";

/// The tools the gateway exports for `BASE_URL` (what Vapi should end up holding).
/// The gateway's function tools (the ones synced; a `transferCall` tool has no function name).
fn spec() -> Vec<Value> {
    let out = Command::new(gateway_bin())
        .args(["vapi-tools", "--base-url", BASE_URL])
        .output()
        .unwrap();
    assert!(out.status.success());
    let all: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    all.into_iter()
        .filter(|t| t["type"] == "function")
        .collect()
}

fn names(tools: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Runs `cargo xtask vapi-sync --env dev --base-url BASE_URL` against `vapi` with `key` as
/// `VAPI_API_KEY` (unset when `None`) and the `extra` arguments.
fn sync(vapi: &FakeVapi, key: Option<&str>, extra: &[&str]) -> Output {
    let mut cmd = Command::new(xtask_bin());
    cmd.args(["vapi-sync", "--env", "dev", "--base-url", BASE_URL])
        .args(["--api-url", &vapi.url()])
        .args(extra)
        .env_remove("VAPI_API_KEY");
    if let Some(key) = key {
        cmd.env("VAPI_API_KEY", key);
    }
    cmd.output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// An organisation synced once.
async fn synced() -> FakeVapi {
    let vapi = FakeVapi::start().await;
    assert_ok(&sync(&vapi, Some(API_KEY), &[]));
    assert_eq!(vapi.errors(), Vec::<String>::new());
    vapi
}

fn writes(requests: &[String]) -> Vec<&String> {
    requests.iter().filter(|r| !r.starts_with("GET ")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_organisation_gets_every_tool_created_with_valid_bodies() {
    let vapi = FakeVapi::start().await;
    let out = sync(&vapi, Some(API_KEY), &[]);
    assert_ok(&out);
    assert_eq!(
        vapi.errors(),
        Vec::<String>::new(),
        "bodies Vapi's schema refuses"
    );
    let spec = spec();
    assert!(spec.len() >= 11, "{}", spec.len());
    let requests = vapi.requests().await;
    assert_eq!(requests[0], "GET /tool");
    assert_eq!(writes(&requests).len(), spec.len(), "{requests:?}");
    assert!(writes(&requests).iter().all(|r| *r == "POST /tool"));
    assert_eq!(names(&vapi.tools()), names(&spec));
    let report = stdout(&out);
    for tool in &spec {
        let name = tool["function"]["name"].as_str().unwrap();
        let held = vapi.tool(name);
        assert_eq!(
            held["server"]["url"],
            format!("{BASE_URL}/vapi/tools/{name}")
        );
        assert_eq!(
            held["function"]["description"],
            tool["function"]["description"]
        );
        assert_eq!(
            held["function"]["parameters"],
            tool["function"]["parameters"]
        );
        assert_eq!(held["messages"], tool["messages"]);
        assert_eq!(held["parameters"], tool["parameters"]);
        assert!(report.contains(&format!("{name}: created")), "{report}");
    }
    assert!(
        report.contains(&format!("{} created, 0 updated, 0 unchanged", spec.len())),
        "{report}"
    );
    assert!(!report.contains(API_KEY) && !stderr(&out).contains(API_KEY));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_changes_nothing() {
    let vapi = synced().await;
    let before = vapi.tools();
    let listed_before = vapi.requests().await.len();
    let out = sync(&vapi, Some(API_KEY), &[]);
    assert_ok(&out);
    let requests = vapi.requests().await;
    assert_eq!(requests[listed_before..], ["GET /tool".to_owned()]);
    assert_eq!(vapi.tools(), before);
    let report = stdout(&out);
    let n = spec().len();
    assert!(
        report.contains(&format!("0 created, 0 updated, {n} unchanged")),
        "{report}"
    );
    assert!(report.contains("book_appointment: unchanged"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_edited_in_vapi_is_patched_back_and_reported() {
    let vapi = synced().await;
    let id = vapi.tool("book_appointment")["id"].clone();
    vapi.edit(|tools| {
        let tool = tools
            .iter_mut()
            .find(|t| t["function"]["name"] == "book_appointment")
            .unwrap();
        tool["function"]["description"] = json!("Someone's edit in the dashboard.");
    });
    let seen = vapi.requests().await.len();
    let out = sync(&vapi, Some(API_KEY), &[]);
    assert_ok(&out);
    assert_eq!(vapi.errors(), Vec::<String>::new());
    let requests = vapi.requests().await;
    assert_eq!(
        requests[seen..],
        [
            "GET /tool".to_owned(),
            format!("PATCH /tool/{}", id.as_str().unwrap())
        ]
    );
    let want = spec()
        .into_iter()
        .find(|t| t["function"]["name"] == "book_appointment")
        .unwrap();
    let held = vapi.tool("book_appointment");
    assert_eq!(
        held["function"]["description"],
        want["function"]["description"]
    );
    assert_eq!(held["id"], id, "updated in place, not recreated");
    let report = stdout(&out);
    assert!(
        report.contains("book_appointment: updated (function.description)"),
        "{report}"
    );
    assert!(report.contains("0 created, 1 updated"), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_writes_nothing_and_fails_when_vapi_differs() {
    let vapi = synced().await;
    let in_sync = sync(&vapi, Some(API_KEY), &["--check"]);
    assert_ok(&in_sync);
    vapi.edit(|tools| {
        tools.retain(|t| t["function"]["name"] != "cancel_appointment");
        let tool = tools
            .iter_mut()
            .find(|t| t["function"]["name"] == "get_appointments")
            .unwrap();
        tool["server"]["url"] =
            json!("https://old-gateway.example.com/vapi/tools/get_appointments");
    });
    let before = vapi.tools();
    let seen = vapi.requests().await.len();
    let out = sync(&vapi, Some(API_KEY), &["--check"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert_eq!(
        writes(&vapi.requests().await[seen..]),
        Vec::<&String>::new()
    );
    assert_eq!(vapi.tools(), before);
    let report = stdout(&out);
    assert!(
        report.contains("cancel_appointment: would be created"),
        "{report}"
    );
    assert!(
        report.contains("get_appointments: would be updated (server.url)"),
        "{report}"
    );
    assert!(stderr(&out).contains("differ"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_api_key_is_a_clear_error_before_any_request() {
    let vapi = FakeVapi::start().await;
    for key in [None, Some(""), Some("  ")] {
        let out = sync(&vapi, key, &[]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("VAPI_API_KEY is not set"), "{err}");
    }
    assert_eq!(vapi.requests().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_and_vapi_failing_are_errors_naming_the_status() {
    let vapi = FakeVapi::start().await;
    let wrong = "vapi-public-key-not-the-private-one";
    let out = sync(&vapi, Some(wrong), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("GET /tool: Vapi answered 401"), "{err}");
    assert!(err.contains("VAPI_API_KEY"), "{err}");
    assert!(!err.contains(wrong) && !stdout(&out).contains(wrong));
    assert!(vapi.tools().is_empty());

    vapi.fail_with(500);
    let out = sync(&vapi, Some(API_KEY), &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("GET /tool: Vapi answered 500"), "{err}");
    assert_eq!(writes(&vapi.requests().await), Vec::<&String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_vapi_refuses_stops_the_run_naming_the_tool_and_status() {
    let vapi = FakeVapi::start().await;
    vapi.fail_writes_with(500);
    let out = sync(&vapi, Some(API_KEY), &[]);
    assert!(!out.status.success());
    let first = spec()[0]["function"]["name"].as_str().unwrap().to_owned();
    let err = stderr(&out);
    assert!(
        err.contains(&format!("POST /tool ({first}): Vapi answered 500")),
        "{err}"
    );
    let requests = vapi.requests().await;
    assert_eq!(
        writes(&requests).len(),
        1,
        "stops at the first refusal: {requests:?}"
    );
    assert!(vapi.tools().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tools_of_one_name_in_vapi_are_refused_without_writing() {
    let vapi = synced().await;
    vapi.edit(|tools| {
        let mut copy = tools[0].clone();
        copy["id"] = json!("0b5a3c1e-0000-4000-8000-0000000000d2");
        tools.push(copy);
    });
    let seen = vapi.requests().await.len();
    let out = sync(&vapi, Some(API_KEY), &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("0b5a3c1e-0000-4000-8000-0000000000d2"));
    assert_eq!(
        writes(&vapi.requests().await[seen..]),
        Vec::<&String>::new()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_takes_only_an_https_gateway_url() {
    let vapi = FakeVapi::start().await;
    let out = Command::new(xtask_bin())
        .args([
            "vapi-sync",
            "--env",
            "dev",
            "--base-url",
            "http://gw.example.com",
        ])
        .args(["--api-url", &vapi.url()])
        .env("VAPI_API_KEY", API_KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("https"), "{}", stderr(&out));
    assert_eq!(vapi.requests().await, Vec::<String>::new());
}

/// The fake is not a rubber stamp: what Vapi's schema refuses, it refuses and records.
#[tokio::test(flavor = "multi_thread")]
async fn the_fake_refuses_bodies_vapi_would_refuse() {
    let vapi = synced().await;
    let id = vapi.tool("book_appointment")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::new();
    let mut bad = spec().remove(0);
    bad["messages"] = json!([{"type": "request-start", "content": 5}]);
    let post = http
        .post(format!("{}/tool", vapi.url()))
        .bearer_auth(API_KEY)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 400);
    let patch = http
        .patch(format!("{}/tool/{id}", vapi.url()))
        .bearer_auth(API_KEY)
        .json(&json!({"type": "function", "id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 400);
    let errors = vapi.errors();
    assert!(
        errors.iter().any(|e| e.starts_with("POST /tool")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("read-only field id")),
        "{errors:?}"
    );
}
