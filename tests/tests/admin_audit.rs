//! `GET /audit/events` as a compliance officer uses it, on the local profile (the gateway reads
//! its own spool): a Cognito access token of the configured pool is required (tokens signed by the
//! test, the pool's JWKS served on loopback), the filters narrow the answer, the pages cover the
//! trail exactly once, every refusal is a 401 with `WWW-Authenticate: Bearer` and an audited
//! denial, and reading the trail is itself audited.

use gateway_tests::{Caller, TestApp, clock, cognito::UserPool};
use serde_json::{Value, json};

async fn spawn(pool: &UserPool, extra: &[(&str, String)]) -> TestApp {
    let mut env = pool.env();
    env.extend(extra.iter().map(|(k, v)| (*k, v.clone())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    TestApp::spawn_with(&env).await
}

fn now() -> i64 {
    clock().now().as_second()
}

async fn get(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(&format!("/audit/events{query}")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    req.send().await.expect("request")
}

async fn ok(app: &TestApp, query: &str, token: &str) -> Value {
    let resp = get(app, query, Some(token)).await;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("a JSON answer");
    assert_eq!(status, 200, "{query}: {body}");
    body
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["id"].as_str().expect("an id").to_owned())
        .collect()
}

/// Three calls of the demo practice: two `list_providers` on one call, one on another.
async fn some_calls(app: &TestApp) -> (Caller, Caller) {
    let (a, b) = (Caller::default(), Caller::default());
    for caller in [&a, &a, &b] {
        app.tool("list_providers", json!({}), caller).await.ok();
    }
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_reads_the_entries_the_filters_select_and_the_read_is_audited() {
    let pool = UserPool::start().await;
    let app = spawn(&pool, &[]).await;
    let (a, b) = some_calls(&app).await;
    let token = pool.token(now());
    let trail = app.audit_entries();
    let expect = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
        ids(&trail
            .iter()
            .filter(|e| keep(e))
            .cloned()
            .collect::<Vec<_>>())
    };

    // By call id: exactly that call's entries, as stored.
    let body = ok(&app, &format!("?call_id={}", a.call_id), &token).await;
    let got = body["entries"].as_array().unwrap();
    let want = expect(&|e| e["actor"]["call_id"] == a.call_id.as_str());
    assert!(want.len() >= 2, "each tool call is audited: {trail:?}");
    assert_eq!(ids(got), want);
    let stored: Vec<&Value> = trail
        .iter()
        .filter(|e| e["actor"]["call_id"] == a.call_id.as_str())
        .collect();
    assert_eq!(got.iter().collect::<Vec<_>>(), stored, "answered as stored");
    assert!(body.get("next_token").is_none(), "one page holds them");

    // By account and action; another account has nothing.
    let body = ok(&app, "?account_id=acct_demo&action=read", &token).await;
    let want = expect(&|e| e["account_id"] == "acct_demo" && e["action"] == "read");
    assert_eq!(ids(body["entries"].as_array().unwrap()), want);
    assert!(!want.is_empty());
    let body = ok(&app, "?account_id=acct_nobody", &token).await;
    assert_eq!(body["entries"], json!([]));

    // A time range: from the second call's first entry up to (not including) the last one's.
    let of_b: Vec<&Value> = trail
        .iter()
        .filter(|e| e["actor"]["call_id"] == b.call_id.as_str())
        .collect();
    let from = trail
        .iter()
        .find(|e| e["actor"]["call_id"] == a.call_id.as_str())
        .unwrap()["time"]
        .as_str()
        .unwrap()
        .to_owned();
    let to = of_b.last().unwrap()["time"].as_str().unwrap().to_owned();
    let body = ok(
        &app,
        &format!("?from={}&to={}&account_id=acct_demo", enc(&from), enc(&to)),
        &token,
    )
    .await;
    let instant = |t: &str| t.parse::<jiff::Timestamp>().expect("an RFC 3339 time");
    let (start, end) = (instant(&from), instant(&to));
    let want = expect(&|e| {
        let t = instant(e["time"].as_str().unwrap());
        e["account_id"] == "acct_demo" && t >= start && t < end
    });
    assert!(
        !want.is_empty() && want.len() < trail.len(),
        "a real narrowing"
    );
    assert_eq!(ids(body["entries"].as_array().unwrap()), want);

    // A bad filter is a 400 naming it.
    let resp = get(&app, "?from=yesterday", Some(&token)).await;
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("from"));

    // Each read is audited: who and which filters, never the token.
    let reads: Vec<Value> = app
        .audit_entries()
        .into_iter()
        .filter(|e| e["actor"]["kind"] == "admin" && e["resource"] == "/audit/events")
        .collect();
    assert!(reads.len() >= 4, "{reads:?}");
    let first = &reads[0];
    assert_eq!(first["action"], "read");
    assert_eq!(first["outcome"], "success");
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.contains("compliance-officer"), "{reason}");
    assert!(
        reason.contains(&format!("call_id={}", a.call_id)),
        "{reason}"
    );
    assert!(!app.output().contains(&token), "the token reached the log");
    let spool = std::fs::read_to_string(app.audit_dir.path().join("audit.jsonl")).unwrap();
    assert!(!spool.contains(&token), "the token reached the audit trail");
}

fn enc(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_next_token_covers_every_entry_exactly_once() {
    let pool = UserPool::start().await;
    let app = spawn(&pool, &[]).await;
    let caller = Caller::default();
    for _ in 0..7 {
        app.tool("list_providers", json!({}), &caller).await.ok();
    }
    let token = pool.token(now());
    let want: Vec<String> = ids(&app
        .audit_entries()
        .into_iter()
        .filter(|e| e["actor"]["call_id"] == caller.call_id.as_str())
        .collect::<Vec<_>>());
    assert!(want.len() >= 7);
    let mut got = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &next {
            None => format!("?call_id={}&limit=3", caller.call_id),
            Some(t) => format!("?call_id={}&limit=3&next_token={t}", caller.call_id),
        };
        let body = ok(&app, &query, &token).await;
        let entries = body["entries"].as_array().unwrap();
        assert!(entries.len() <= 3, "limit respected");
        got.extend(ids(entries));
        pages += 1;
        assert!(pages <= want.len(), "paging does not end");
        match body["next_token"].as_str() {
            Some(t) => next = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(got, want, "every entry once, in order");
    assert_eq!(pages, want.len().div_ceil(3));
    // A limit out of range, and a token never handed out, are refused.
    for query in ["?limit=0", "?limit=1001", "?next_token=bogus"] {
        let resp = get(&app, query, Some(&token)).await;
        assert_eq!(resp.status().as_u16(), 400, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_token_that_is_not_a_valid_access_token_of_the_pool_is_a_401_and_audited() {
    let pool = UserPool::start().await;
    let app = spawn(&pool, &[]).await;
    let now = now();
    let other_key = gateway_tests::cognito::SigningKey::generate("test-key-1");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = pool.claims(now);
        change(&mut claims);
        pool.key.sign(&claims)
    };
    let refused: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not a JWT", Some("not-a-token".into())),
        (
            "another issuer",
            Some(with(&|c| {
                c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other")
            })),
        ),
        (
            "another client",
            Some(with(&|c| c["client_id"] = json!("someone-else"))),
        ),
        ("an id token", Some(with(&|c| c["token_use"] = json!("id")))),
        ("expired", Some(with(&|c| c["exp"] = json!(now - 60)))),
        ("another key", Some(other_key.sign(&pool.claims(now)))),
    ];
    for (what, token) in &refused {
        let resp = get(&app, "", token.as_deref()).await;
        assert_eq!(resp.status().as_u16(), 401, "{what}");
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "{what}: {challenge:?}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("\"entries\""), "{what}: {body}");
    }
    // Each refusal is an audited denial (floods are counted, see `TestApp::denials`).
    let denied = app
        .denials(Some("/audit/events"), refused.len() as u64)
        .await;
    assert_eq!(denied, refused.len() as u64);
    let entries = app.audit_entries();
    assert!(
        entries
            .iter()
            .any(|e| e["outcome"] == "denied" && e["actor"]["kind"] == "admin"),
        "{entries:?}"
    );
    // The valid one still works, and the keys were fetched once for all of these.
    let resp = get(&app, "", Some(&pool.token(now))).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(pool.jwks_fetches(), 1, "the JWKS is cached");
    for (_, token) in refused.iter().filter_map(|(w, t)| Some((w, t.as_ref()?))) {
        assert!(!app.output().contains(token.as_str()), "a token was logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_is_judged_by_the_gateways_clock() {
    let pool = UserPool::start().await;
    // The gateway runs two days ahead of the test.
    let ahead = clock().now() + jiff::SignedDuration::from_hours(48);
    let app = spawn(&pool, &[("GATEWAY_NOW", ahead.to_string())]).await;
    let now = now();
    // Valid for another hour by the test's clock, expired by the gateway's.
    let resp = get(&app, "", Some(&pool.token(now))).await;
    assert_eq!(resp.status().as_u16(), 401);
    // Valid for an hour by the gateway's clock.
    let resp = get(&app, "", Some(&pool.token(ahead.as_second()))).await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_cognito_settings_the_admin_route_answers_503_saying_why() {
    let app = TestApp::spawn().await;
    let resp = get(&app, "", Some("anything")).await;
    assert_eq!(resp.status().as_u16(), 503);
    let body = resp.text().await.unwrap();
    assert!(body.contains("COGNITO_ISSUER"), "{body}");
}
