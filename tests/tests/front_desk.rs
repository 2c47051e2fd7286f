//! The front desk, as a caller meets it, on both backends: `transfer_to_human` transfers the live
//! call through the call's `monitor.controlUrl` (a fake control endpoint here checks the body Vapi
//! would get), or says precisely why not — no transfer number, no control URL, a control URL the
//! gateway may not call, the endpoint failing or silent, the office closed (then a message is
//! offered with when it reopens), and Vapi's `transferCall` tool is given the front desk by the
//! webhook only within the practice's hours; `take_message` records a message, audits it without its content,
//! tells the caller when to expect a call back, and lists it for the staff at
//! `GET /practices/{id}/messages` behind the admin token only.

use std::sync::{Arc, Mutex};

use gateway_tests::{
    Backend, Caller, TestApp, both, clock,
    cognito::UserPool,
    fixture::{self, PRACTICE_NAME, TRANSFER_NUMBER},
    unique,
};
use jiff::ToSpan;
use poem::{
    EndpointExt, Route, handler, http::StatusCode, listener::TcpListener, post, web::Data,
    web::Json,
};
use serde_json::{Value, json};

/// A stand-in for Vapi's live call control: records each body, answers `status`.
struct ControlEndpoint {
    url: String,
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
    async fn start(status: u16) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        drop(listener);
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = Route::new()
            .at("/call_1/control", post(control))
            .data((bodies.clone(), status));
        let server = tokio::spawn(async move {
            let _ = poem::Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
                .run(app)
                .await;
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the fake control endpoint did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Self {
            url: format!("http://127.0.0.1:{port}/call_1/control"),
            bodies,
            _server: server,
        }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

/// A weekly schedule file: every provider works `hours` on the given weekdays (Monday = 0).
fn schedule(dir: &tempfile::TempDir, days: &[usize], hours: (&str, &str)) -> String {
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

fn weekday(date: jiff::civil::Date) -> usize {
    date.weekday().to_monday_zero_offset() as usize
}

/// The gateway with the office open all day, every day (or only tomorrow from 09:00 when
/// `closed_today`), allowed to call a loopback control endpoint, plus `extra` settings.
async fn spawn(
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

/// Calls `tool` on the webhook of a call whose `monitor.controlUrl` is `control_url`.
async fn call_with_control(
    app: &TestApp,
    tool: &str,
    args: Value,
    caller: &Caller,
    control_url: Option<&str>,
) -> Result<String, String> {
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
fn entries(app: &TestApp, resource: &str) -> Vec<Value> {
    app.audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == resource)
        .collect()
}

/// "tomorrow, Tuesday, December 1 at 9:00 AM": when a practice closed today opens.
fn tomorrow_at_nine() -> String {
    let tomorrow = fixture::today() + 1.day();
    format!("tomorrow, {} at 9:00 AM", tomorrow.strftime("%A, %B %-d"))
}

async fn a_transfer_posts_the_front_desk_to_the_calls_control_url(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let (app, _dir) = spawn(backend, false, &[]).await;
    let answer = call_with_control(
        &app,
        "transfer_to_human",
        json!({"reason": "billing question"}),
        &Caller::default(),
        Some(&endpoint.url),
    )
    .await
    .expect("transferred");
    assert!(answer.contains("being transferred"), "{answer}");
    assert_eq!(
        endpoint.bodies(),
        [json!({
            "type": "transfer",
            "destination": {"type": "number", "number": TRANSFER_NUMBER},
            "content": format!("Connecting you to the front desk at {PRACTICE_NAME} now."),
        })]
    );
    let audited = entries(&app, "transfer_to_human");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["outcome"], "success");
    assert_eq!(audited[0]["reason"], "transferred to the front desk");
    assert!(
        !audited[0].to_string().contains("billing"),
        "{}",
        audited[0]
    );
}

async fn without_a_control_url_the_answer_says_so_and_offers_a_message(backend: Backend) {
    let (app, _dir) = spawn(backend, false, &[]).await;
    let err = call_with_control(
        &app,
        "transfer_to_human",
        json!({}),
        &Caller::default(),
        None,
    )
    .await
    .expect_err("not transferred");
    assert!(
        err.contains("no live call control") && err.contains("take_message"),
        "{err}"
    );
    let audited = entries(&app, "transfer_to_human");
    assert_eq!(
        (
            audited[0]["outcome"].as_str(),
            audited[0]["reason"].as_str()
        ),
        (Some("failed"), Some("no control URL"))
    );
}

async fn a_failing_or_foreign_control_endpoint_is_reported_precisely(backend: Backend) {
    let failing = ControlEndpoint::start(500).await;
    let (app, _dir) = spawn(backend, false, &[]).await;
    let caller = Caller::default();
    let err = call_with_control(
        &app,
        "transfer_to_human",
        json!({}),
        &caller,
        Some(&failing.url),
    )
    .await
    .expect_err("refused");
    assert!(
        err.contains("refused the transfer (HTTP 500)") && err.contains("take_message"),
        "{err}"
    );
    assert_eq!(failing.bodies().len(), 1);

    // Nobody listening: a closed port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = format!("http://{}/call_1/control", closed.local_addr().unwrap());
    drop(closed);
    let err = call_with_control(&app, "transfer_to_human", json!({}), &caller, Some(&silent))
        .await
        .expect_err("unreachable");
    assert!(
        err.contains("did not answer") && err.contains("take_message"),
        "{err}"
    );

    // A URL that is not Vapi's (an internal address) is never called.
    for foreign in [
        "https://169.254.169.254/latest/meta-data",
        "https://control.example.com/x",
    ] {
        let err = call_with_control(&app, "transfer_to_human", json!({}), &caller, Some(foreign))
            .await
            .expect_err("refused");
        assert!(err.contains("not a Vapi address"), "{err}");
    }
    let reasons: Vec<String> = entries(&app, "transfer_to_human")
        .iter()
        .map(|e| format!("{} {}", e["outcome"], e["reason"]))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons.iter().all(|r| r.starts_with("\"failed\"")),
        "{reasons:?}"
    );
}

async fn without_the_loopback_setting_a_plain_http_control_url_is_not_called(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let (app, _dir) = spawn(
        backend,
        false,
        &[("VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK", "false".into())],
    )
    .await;
    let err = call_with_control(
        &app,
        "transfer_to_human",
        json!({}),
        &Caller::default(),
        Some(&endpoint.url),
    )
    .await
    .expect_err("refused");
    assert!(err.contains("not a Vapi address"), "{err}");
    assert!(endpoint.bodies().is_empty());
}

async fn without_a_transfer_number_the_answer_is_precise(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let files = tempfile::tempdir().unwrap();
    let practices = files.path().join("practices.json");
    let entry = |pms: Value| {
        json!({"practices": [{"account_id": "acct_demo", "name": PRACTICE_NAME,
            "time_zone": fixture::TIME_ZONE, "phone_number_ids": ["pn_demo"], "pms": pms}]})
    };
    std::fs::write(&practices, entry(json!({"kind": "sandbox"})).to_string()).unwrap();
    let path = practices.display().to_string();
    let env = [
        ("PRACTICES_FILE", path.as_str()),
        ("VAPI_CONTROL_URL_ALLOW_HTTP_LOOPBACK", "true"),
    ];
    // On Sikka the practice stays bound to the emulator, only without a transfer number.
    let app = TestApp::spawn_on_adjusted(backend, &env, |o| {
        let pms = json!({"kind": "sikka", "office_id": o.office_id, "practice_id": o.practice_id, "pms_type": o.pms});
        std::fs::write(&practices, entry(pms).to_string()).unwrap();
    })
    .await;
    let err = call_with_control(
        &app,
        "transfer_to_human",
        json!({}),
        &Caller::default(),
        Some(&endpoint.url),
    )
    .await
    .expect_err("no number");
    assert!(
        err.contains("has no transfer number set up") && err.contains("take a message"),
        "{err}"
    );
    assert!(endpoint.bodies().is_empty());
    let audited = entries(&app, "transfer_to_human");
    assert_eq!(audited[0]["reason"], "no transfer number configured");
}

async fn outside_office_hours_a_message_is_offered_instead(backend: Backend) {
    let endpoint = ControlEndpoint::start(200).await;
    let (app, _dir) = spawn(backend, true, &[]).await;
    let err = call_with_control(
        &app,
        "transfer_to_human",
        json!({}),
        &Caller::default(),
        Some(&endpoint.url),
    )
    .await
    .expect_err("closed");
    assert!(
        err.contains("is closed now")
            && err.contains(&format!("opens again {}", tomorrow_at_nine()))
            && err.contains("take_message"),
        "{err}"
    );
    assert!(endpoint.bodies().is_empty(), "nobody to transfer to");
    assert_eq!(
        entries(&app, "transfer_to_human")[0]["reason"],
        "outside office hours"
    );
}

/// Asks the webhook where to transfer a call to the demo practice.
async fn ask(app: &TestApp) -> Value {
    let body = json!({"message": {"type": "transfer-destination-request",
        "call": {"id": unique("call"), "phoneNumberId": "pn_demo"}}});
    let resp = app
        .post_signed("/vapi/webhook", body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

/// Vapi's `transferCall` tool asks the webhook where to: the front desk while open, an error
/// offering a message while closed.
async fn the_transfer_call_tools_destination_is_the_front_desk_within_hours_only(backend: Backend) {
    let (open, _dir) = spawn(backend, false, &[]).await;
    let v = ask(&open).await;
    assert_eq!(
        v["destination"],
        json!({"type": "number", "number": TRANSFER_NUMBER}),
        "{v}"
    );
    let (closed, _dir) = spawn(backend, true, &[]).await;
    let v = ask(&closed).await;
    assert!(v.get("destination").is_none(), "{v}");
    let error = v["error"].as_str().expect("an error");
    assert!(
        error.contains("closed now")
            && error.contains(&format!("opens again {}", tomorrow_at_nine()))
            && error.contains("take_message"),
        "{error}"
    );
}

async fn get_messages(app: &TestApp, account: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app
        .client
        .get(app.url(&format!("/practices/{account}/messages")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("request")
}

async fn a_message_is_recorded_audited_and_listed_for_the_staff_only(backend: Backend) {
    let pool = UserPool::start().await;
    let (app, _dir) = spawn(backend, true, &pool.env()).await;
    let caller = Caller::from(fixture::OLIVIA.phone);
    let answer = app
        .tool(
            "take_message",
            json!({"caller_name": "Olivia Bennett", "reason": "Question about my invoice", "urgency": "urgent"}),
            &caller,
        )
        .await;
    let ok = answer.ok();
    assert!(
        ok.contains("recorded")
            && ok.contains("urgent")
            && ok.contains(&format!("opens again {}", tomorrow_at_nine()))
            && ok.contains(&fixture::OLIVIA.phone[fixture::OLIVIA.phone.len() - 4..]),
        "{ok}"
    );

    // Audited as a message taken, without its content.
    let audited = entries(&app, "take_message");
    assert_eq!(audited.len(), 1);
    assert_eq!(
        (
            audited[0]["action"].as_str(),
            audited[0]["outcome"].as_str()
        ),
        (Some("create"), Some("success"))
    );
    let text = audited[0].to_string();
    assert!(
        !text.contains("Olivia") && !text.contains("invoice"),
        "{text}"
    );

    // The staff read it with the admin token; nobody else does.
    let refused = get_messages(&app, "acct_demo", None).await;
    assert_eq!(refused.status().as_u16(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    let forged = get_messages(&app, "acct_demo", Some("not.a.token")).await;
    assert_eq!(forged.status().as_u16(), 401);
    let resp = get_messages(
        &app,
        "acct_demo",
        Some(&pool.token(clock().now().as_second())),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    let list = body["messages"].as_array().expect("messages");
    assert_eq!(list.len(), 1, "{body}");
    let m = &list[0];
    assert_eq!(m["caller_name"], "Olivia Bennett");
    assert_eq!(m["callback_number"], fixture::OLIVIA.phone);
    assert_eq!(m["reason"], "Question about my invoice");
    assert_eq!(m["urgency"], "urgent");
    assert_eq!(m["call_id"], caller.call_id);
    let tomorrow = fixture::today() + 1.day();
    assert_eq!(m["call_back_from"], format!("{tomorrow}T09:00:00"));
    assert!(
        ok.contains(m["id"].as_str().unwrap()),
        "the caller's reference is the listed id"
    );

    // Another practice's list does not show it; each read is audited, the refusals as denials.
    let other = get_messages(
        &app,
        "acct_other",
        Some(&pool.token(clock().now().as_second())),
    )
    .await;
    let other: Value = other.json().await.unwrap();
    assert_eq!(other["messages"], json!([]));
    let reads = entries(&app, "practice_messages");
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(
        reads[0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("; 1 messages"),
        "{}",
        reads[0]
    );
    assert!(!reads[0].to_string().contains("Olivia"));
}

async fn a_message_without_a_number_to_call_back_is_refused_precisely(backend: Backend) {
    let pool = UserPool::start().await;
    let (app, _dir) = spawn(backend, false, &pool.env()).await;
    // A withheld number and none given: the assistant is told to ask.
    let withheld = Caller::default();
    let err = app
        .tool(
            "take_message",
            json!({"caller_name": "Sam Lee", "reason": "A question"}),
            &withheld,
        )
        .await;
    assert!(err.err().contains("callback_number"), "{err:?}");
    let bad = app
        .tool(
            "take_message",
            json!({"caller_name": "Sam Lee", "reason": "A question", "urgency": "whenever"}),
            &withheld,
        )
        .await;
    assert!(bad.err().contains("urgency"), "{bad:?}");
    // Given a number, it is taken; open now, the call back is today.
    let ok = app
        .tool("take_message", json!({"caller_name": "Sam Lee", "reason": "A question", "callback_number": "(415) 555-0123"}), &withheld)
        .await;
    assert!(
        ok.ok().contains("open now") && ok.ok().contains("0123"),
        "{ok:?}"
    );
    let resp = get_messages(
        &app,
        "acct_demo",
        Some(&pool.token(clock().now().as_second())),
    )
    .await;
    let body: Value = resp.json().await.unwrap();
    let list = body["messages"].as_array().unwrap();
    assert_eq!(list.len(), 1, "only the message that was taken: {body}");
    assert_eq!(list[0]["callback_number"], "+14155550123");
    assert_eq!(list[0]["urgency"], "routine");
    assert!(list[0].get("call_back_from").is_none(), "{}", list[0]);
}

both!(
    a_transfer_posts_the_front_desk_to_the_calls_control_url,
    without_a_control_url_the_answer_says_so_and_offers_a_message,
    a_failing_or_foreign_control_endpoint_is_reported_precisely,
    without_the_loopback_setting_a_plain_http_control_url_is_not_called,
    without_a_transfer_number_the_answer_is_precise,
    outside_office_hours_a_message_is_offered_instead,
    the_transfer_call_tools_destination_is_the_front_desk_within_hours_only,
    a_message_is_recorded_audited_and_listed_for_the_staff_only,
    a_message_without_a_number_to_call_back_is_refused_precisely,
);
