//! What the doctor's tests share: the health route with or without a token, a check by name.

use gateway_tests::{Backend, TestApp, clock, cognito::UserPool};
use serde_json::Value;

/// `GET /practices/{account}/health`, with a fresh admin token from `pool` when given.
pub async fn health(app: &TestApp, account: &str, pool: Option<&UserPool>) -> (u16, Value) {
    let token = pool.map(|pool| pool.token(clock().now().as_second()));
    health_with(app, account, token.as_deref()).await
}

/// `GET /practices/{account}/health` with `token`.
pub async fn health_with(app: &TestApp, account: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app
        .client
        .get(app.url(&format!("/practices/{account}/health")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// The check named `name` of a report.
pub fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {report}"))
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// The verdict and next step of check `name`.
pub fn verdict(report: &Value, name: &str) -> (String, String) {
    let c = check(report, name);
    (
        c["verdict"].as_str().unwrap_or_default().to_owned(),
        c["next_step"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A gateway serving the demo practice on `backend`, with Cognito and `env`.
pub async fn gateway(backend: Backend, pool: &UserPool, env: &[(&str, &str)]) -> TestApp {
    let mut all: Vec<(&str, String)> = pool.env();
    all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_on(backend, &all).await
}

/// The emulator behind a Sikka-backed gateway.
pub fn sikka(app: &TestApp) -> &gateway_tests::sikka::SikkaEmulator {
    app.sikka.as_ref().expect("a Sikka-backed gateway")
}
