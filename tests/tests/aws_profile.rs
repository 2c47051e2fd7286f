//! The whole `aws` profile, black box: the real gateway on moto (settings and practices from SSM,
//! credentials in Secrets Manager) in front of the Sikka emulator. A practice added with
//! `cargo xtask practice add`, onboarded through Sikka's authorize webhook (its secret created
//! in Secrets Manager), answers a tool call; a practice added while the gateway runs answers
//! within the refresh interval; its audit entry reaches CloudWatch Logs and is read back through
//! `GET /audit/events` with a Cognito token; the metrics come out as EMF; no secret reaches the
//! output.

use std::time::Duration;

use gateway_tests::aws_rig::{APP_KEY, CALLBACK_KEY, OFFICE_SECRET, Rig};
use gateway_tests::{Caller, TestApp, eventually, unique};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_added_and_onboarded_on_aws_answers_calls() {
    let rig = Rig::new().await;
    rig.sikka_practice("America/New_York").await;
    let app = rig.gateway().await;

    // Onboarding stores the office's credentials as the practice's secret.
    rig.onboard(&app).await;
    let secret_name = format!("parlae/{}/pms/sikka/acct_a", rig.env_name);
    let stored = rig
        .moto
        .secrets()
        .get_secret_value()
        .secret_id(&secret_name)
        .version_stage("AWSCURRENT")
        .send()
        .await
        .expect("onboarding created the practice's secret");
    let record: Value = serde_json::from_str(stored.secret_string().unwrap()).unwrap();
    assert_eq!(record["office_id"], "D100");

    // A tool call for the practice is answered from its Sikka system.
    let caller = Caller::at("acct_a", "pn_a");
    let answer = app.tool("list_providers", json!({}), &caller).await;
    let providers = answer.ok();
    assert!(!providers.is_empty());

    // Its audit entry is shipped to CloudWatch Logs and read back by a compliance officer.
    // The aws profile runs on the system clock, so the token is dated by it.
    let token = rig
        .pool
        .token(gateway::clock::Clock::system().now().as_second());
    let query = app.url(&format!("/audit/events?call_id={}", caller.call_id));
    let entries = eventually(Duration::from_secs(15), || async {
        let resp = app
            .client
            .get(&query)
            .bearer_auth(&token)
            .send()
            .await
            .ok()?;
        assert_eq!(resp.status().as_u16(), 200);
        let page: Value = resp.json().await.ok()?;
        let entries = page["entries"].as_array()?.clone();
        (!entries.is_empty()).then_some(entries)
    })
    .await
    .expect("the tool call's audit entry is read back from CloudWatch Logs");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["resource"], "list_providers");
    assert_eq!(entries[0]["account_id"], "acct_a");
    assert_eq!(entries[0]["outcome"], "success");
    let unauthenticated = app.client.get(&query).send().await.unwrap();
    assert_eq!(unauthenticated.status().as_u16(), 401);

    // A practice added while the gateway runs answers within the refresh interval.
    let stranger = Caller::at("acct_new", "pn_new");
    let before = app.tool("list_providers", json!({}), &stranger).await;
    assert!(before.error.is_some(), "not set up yet: {before:?}");
    rig.practice(&[
        "--account",
        "acct_new",
        "--name",
        "New Practice",
        "--time-zone",
        "America/Denver",
        "--phone-number-id",
        "pn_new",
        "--pms",
        "sandbox",
    ])
    .await;
    let answered = eventually(Duration::from_secs(10), || async {
        app.tool("list_providers", json!({}), &stranger)
            .await
            .result
    })
    .await;
    assert!(
        answered.is_some(),
        "the new practice was not served within 10 s"
    );

    // The metrics come out as EMF documents on stdout.
    let emf = eventually(Duration::from_secs(10), || async {
        app.output().lines().find_map(|line| {
            let doc: Value = serde_json::from_str(line).ok()?;
            let metrics = doc["_aws"]["CloudWatchMetrics"][0].clone();
            (doc["Tool"] == "list_providers"
                && doc["Outcome"] == "success"
                && doc["Environment"] == rig.env_name.as_str())
            .then_some((doc, metrics))
        })
    })
    .await;
    let (doc, metrics) = emf.expect("an EMF document for the tool calls");
    assert!(doc["ToolCalls"].as_u64().unwrap() >= 1);
    assert_eq!(metrics["Namespace"], "PracticeGateway");
    assert_eq!(
        metrics["Dimensions"][0],
        json!(["Environment", "Tool", "Outcome"])
    );
    assert!(doc["ToolLatencyP99"].as_f64().unwrap() > 0.0);
    let gauges = app
        .output()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("PracticesLoaded").is_some())
        .expect("the practices gauge is reported");
    assert!(gauges["PracticesLoaded"].as_f64().unwrap() >= 1.0);

    let output = app.output();
    let issued = rig.sikka.knobs().issued_keys();
    for secret in [APP_KEY, CALLBACK_KEY, OFFICE_SECRET]
        .into_iter()
        .chain(issued.iter().map(String::as_str))
    {
        assert!(!output.contains(secret), "{secret} in the output");
    }
}

/// Every call id in the audit entries shipped to the environment's log group, with how many
/// entries each has (the messages are the spool's lines).
async fn shipped_call_ids(rig: &Rig) -> std::collections::HashMap<String, usize> {
    let logs = rig.moto.logs();
    let group = format!("/parlae/{}/audit", rig.env_name);
    let mut ids = std::collections::HashMap::new();
    let mut token: Option<String> = None;
    loop {
        let page = logs
            .filter_log_events()
            .log_group_name(&group)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("read the audit log group");
        for event in page.events() {
            let entry: Value = serde_json::from_str(event.message().unwrap_or_default())
                .expect("every shipped message is an audit entry");
            if let Some(call) = entry["actor"]["call_id"].as_str() {
                *ids.entry(call.to_owned()).or_insert(0) += 1;
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return ids;
        }
    }
}

/// One signed `list_providers` call for `caller`, `None` if the gateway did not answer it.
async fn try_call(app: &TestApp, caller: &Caller) -> Option<Value> {
    let id = unique("tc");
    let body =
        serde_json::to_vec(&TestApp::message("list_providers", json!({}), caller, &id)).unwrap();
    let ts = gateway_tests::fresh_timestamp();
    let resp = app
        .client
        .post(app.url("/vapi/tools/list_providers"))
        .header("content-type", "application/json")
        .header("x-timestamp", &ts)
        .header("x-signature", app.sign(&ts, &body))
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let answer: Value = resp.json().await.ok()?;
    answer["results"][0]["result"].is_string().then_some(answer)
}

/// A sandbox practice `acct_s` on `pn_s`, and the gateway on `audit_dir`.
async fn sandbox_rig() -> Rig {
    let rig = Rig::new().await;
    rig.practice(&[
        "--account",
        "acct_s",
        "--name",
        "Sandbox Dental",
        "--time-zone",
        "America/Chicago",
        "--phone-number-id",
        "pn_s",
        "--pms",
        "sandbox",
    ])
    .await;
    rig
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_under_load_and_restarted_on_its_storage_every_answered_call_is_in_cloudwatch() {
    let rig = sandbox_rig().await;
    let app = std::sync::Arc::new(rig.gateway_on(tempfile::tempdir().unwrap()).await);
    // Callers keep calling; the gateway is killed once 150 calls were answered.
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut callers = Vec::new();
    for _ in 0..8 {
        let (app, answered) = (app.clone(), answered.clone());
        callers.push(tokio::spawn(async move {
            loop {
                let caller = Caller::at("acct_s", "pn_s");
                match try_call(&app, &caller).await {
                    Some(_) => answered.lock().unwrap().push(caller.call_id.clone()),
                    None => return,
                }
            }
        }));
    }
    let enough = eventually(Duration::from_secs(60), || async {
        (answered.lock().unwrap().len() >= 150).then_some(())
    })
    .await;
    assert!(enough.is_some(), "the gateway did not answer 150 calls");
    // SIGKILL while the callers are still calling: no flush, no drain.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &app.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    for caller in callers {
        caller.await.unwrap();
    }
    let app = std::sync::Arc::into_inner(app).expect("the callers have stopped");
    let audit_dir = app.kill();
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 150);

    // Restarted on the same storage, it ships what the killed one had not.
    let _restarted = rig.gateway_on(audit_dir).await;
    let missing = eventually(Duration::from_secs(30), || async {
        let shipped = shipped_call_ids(&rig).await;
        let missing: Vec<&String> = answered
            .iter()
            .filter(|id| !shipped.contains_key(*id))
            .collect();
        missing.is_empty().then_some(())
    })
    .await;
    assert!(
        missing.is_some(),
        "answered calls whose audit entry never reached CloudWatch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_with_sigterm_the_gateway_ships_every_entry_before_it_exits() {
    let rig = sandbox_rig().await;
    let app = rig.gateway_on(tempfile::tempdir().unwrap()).await;
    let mut calls = Vec::new();
    for _ in 0..40 {
        let caller = Caller::at("acct_s", "pn_s");
        assert!(try_call(&app, &caller).await.is_some());
        calls.push(caller.call_id);
    }
    let (status, output, _dir) = app.terminate();
    assert!(status.success(), "{output}");
    assert!(output.contains("audit trail shipped"), "{output}");
    // Nothing is left to a later start: every entry is already in CloudWatch.
    let shipped = shipped_call_ids(&rig).await;
    for id in &calls {
        assert!(shipped.contains_key(id), "{id} not shipped before exit");
    }
}

/// `list_providers` for `caller`, signed with `secret` (Vapi's default HMAC): the HTTP status
/// and whether a result came back.
async fn call_signed_with(app: &TestApp, caller: &Caller, secret: &str) -> (u16, bool) {
    use hmac::{Hmac, Mac};
    let body = serde_json::to_vec(&TestApp::message(
        "list_providers",
        json!({}),
        caller,
        &unique("tc"),
    ))
    .unwrap();
    let ts = gateway_tests::fresh_timestamp();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.").as_bytes());
    mac.update(&body);
    let resp = app
        .client
        .post(app.url("/vapi/tools/list_providers"))
        .header("content-type", "application/json")
        .header("x-timestamp", &ts)
        .header("x-signature", hex::encode(mac.finalize().into_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let answered = resp
        .json::<Value>()
        .await
        .ok()
        .is_some_and(|v| v["results"][0]["result"].is_string());
    (status, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_with_its_own_vapi_secret_is_reached_only_with_it_and_locked_when_unreadable() {
    let rig = Rig::new().await;
    let own = "canary-practice-own-vapi-secret-41d0";
    let reference = format!("parlae/{}/vapi/acct_own", rig.env_name);
    rig.moto
        .secrets()
        .create_secret()
        .name(&reference)
        .secret_string(own)
        .send()
        .await
        .expect("store the practice's Vapi secret");
    for (account, pn, secret_ref) in [
        ("acct_own", "pn_own", reference.as_str()),
        ("acct_lost", "pn_lost", "parlae/nowhere/vapi/acct_lost"),
    ] {
        rig.practice(&[
            "--account",
            account,
            "--name",
            "Own Secret Dental",
            "--time-zone",
            "America/New_York",
            "--phone-number-id",
            pn,
            "--vapi-secret-ref",
            secret_ref,
            "--pms",
            "sandbox",
        ])
        .await;
    }
    let app = rig.gateway().await;
    let own_caller = Caller::at("acct_own", "pn_own");
    assert_eq!(call_signed_with(&app, &own_caller, own).await, (200, true));
    let (status, answered) = call_signed_with(&app, &own_caller, &app.secret).await;
    assert!(
        status == 401 || !answered,
        "the gateway-wide secret reached a practice with its own ({status})"
    );
    // A practice whose secret cannot be read is locked, not opened to the gateway-wide secret.
    let lost_caller = Caller::at("acct_lost", "pn_lost");
    let (status, answered) = call_signed_with(&app, &lost_caller, &app.secret).await;
    assert!(
        status == 401 || !answered,
        "a practice whose secret could not be read was reached ({status})"
    );
    assert!(
        !app.output().contains(own),
        "the practice's secret in the output"
    );
}
