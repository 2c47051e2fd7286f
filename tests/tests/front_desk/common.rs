//! What the front desk's tests share: a fake Vapi control endpoint, a gateway whose office is
//! open all day or closed until tomorrow 09:00, a tool call carrying a control URL, audit entries.

use std::sync::{Arc, Mutex};

use gateway_tests::{Backend, Caller, TestApp, fixture, unique};
use jiff::ToSpan;
use poem::{
    EndpointExt, Route, handler, http::StatusCode, listener::TcpAcceptor, post, web::Data,
    web::Json,
};
use serde_json::{Value, json};

/// A stand-in for Vapi's live call control: records each body, answers `status`.
pub struct ControlEndpoint {
    pub url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    _server: tokio::task::JoinHandle<()>,
}

#[handler]
fn control(
    Json(body): Json<Value>,
    Data(state): Data<&(Arc<Mutex<Vec<Value>>>, u16)>,
) -> StatusCode {
    state.0.lock().unwrap().push(body);
    StatusCode::from_u16(state.1).unwrap()
}

impl ControlEndpoint {
    pub async fn start(status: u16) -> Self {
        // Bound before the server runs: connections wait in its backlog, so it is ready now.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        let acceptor = TcpAcceptor::from_tokio(listener).expect("an acceptor");
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = Route::new()
            .at("/call_1/control", post(control))
            .data((bodies.clone(), status));
        let server = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}/call_1/control"),
            bodies,
            _server: server,
        }
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A weekly schedule file: every provider works `hours` on the given weekdays (Monday = 0).
pub fn schedule(dir: &tempfile::TempDir, days: &[usize], hours: (&str, &str)) -> String {
    let mut file = serde_json::Map::new();
    for &d in days {
        let blocks: Vec<Value> = [fixture::DR_LEE, fixture::DR_ORTIZ, fixture::HYGIENIST]
            .iter()
            .map(|p| json!({"provider_id": p, "start": hours.0, "end": hours.1}))
            .collect();
        file.insert(
            gateway::pms::sandbox::WEEKDAYS[d].into(),
            Value::Array(blocks),
        );
    }
    let path = dir.path().join("schedule.json");
    std::fs::write(&path, Value::Object(file).to_string()).unwrap();
    path.display().to_string()
}

pub fn weekday(date: jiff::civil::Date) -> usize {
    date.weekday().to_monday_zero_offset() as usize
}

/// The gateway with the office open all day, every day (or only tomorrow from 09:00 when
/// `closed_today`), allowed to call a loopback control endpoint, plus `extra` settings.
pub async fn spawn(
    backend: Backend,
    closed_today: bool,
    extra: &[(&str, String)],
) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = if closed_today {
        schedule(
            &dir,
            &[weekday(fixture::today() + 1.day())],
            ("09:00", "17:00"),
        )
    } else {
        schedule(&dir, &[0, 1, 2, 3, 4, 5, 6], ("00:00", "23:59"))
    };
    let mut env: Vec<(&str, String)> = vec![
        ("SANDBOX_SCHEDULE", file),
        ("VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK", "true".into()),
    ];
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (TestApp::spawn_on(backend, &env).await, dir)
}

/// `transfer_to_human` with no arguments, from a withheld number, on a call whose
/// `monitor.controlUrl` is `control_url`.
pub async fn transfer(app: &TestApp, control_url: Option<&str>) -> Result<String, String> {
    transfer_as(app, json!({}), &Caller::default(), control_url).await
}

/// `transfer_to_human` with `args`, from `caller`, on a call whose `monitor.controlUrl` is
/// `control_url`.
pub async fn transfer_as(
    app: &TestApp,
    args: Value,
    caller: &Caller,
    control_url: Option<&str>,
) -> Result<String, String> {
    let tool = "transfer_to_human";
    let mut body = TestApp::message(tool, args, caller, &unique("tc"));
    if let Some(url) = control_url {
        body["message"]["call"]["monitor"] =
            json!({"listenUrl": "wss://x/listen", "controlUrl": url});
    }
    let resp = app
        .post_signed(&format!("/vapi/tools/{tool}"), body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let r = &v["results"][0];
    match (r["result"].as_str(), r["error"].as_str()) {
        (Some(ok), None) => Ok(ok.to_owned()),
        (None, Some(err)) => Err(err.to_owned()),
        _ => panic!("one of result or error: {v}"),
    }
}

/// The audit entries of `resource`, after a call answered (its entry is durable first).
pub fn entries(app: &TestApp, resource: &str) -> Vec<Value> {
    app.audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == resource)
        .collect()
}

/// "tomorrow, Tuesday, December 1 at 9:00 AM": when a practice closed today opens.
pub fn tomorrow_at_nine() -> String {
    let tomorrow = fixture::today() + 1.day();
    format!("tomorrow, {} at 9:00 AM", tomorrow.strftime("%A, %B %-d"))
}
