//! Which practice a call belongs to comes from what the gateway binds (the Vapi number called,
//! else the assistant of a web call), never from what the body claims; a practice with its own
//! Vapi secret is reached only with that secret; and nothing one practice verified carries over
//! to another, nor can the model claim a caller id (nor does registering a patient verify anyone
//! when several records match).

use gateway_tests::{Caller, TestApp, fixture::*, fresh_timestamp, unique};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

const SECRET_A: &str = "practice-a-own-secret";

/// Two sandbox practices: A (`pn_a`, assistant `asst_a`, its own Vapi secret when `own_secret`)
/// and B (`pn_b`, assistant `asst_b`).
async fn two_practices(own_secret: bool, extra: &[(&str, &str)]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("practices.json");
    let mut a = json!({"account_id": "acct_a", "name": "Alpha Dental", "time_zone": TIME_ZONE,
        "phone_number_ids": ["pn_a"], "assistant_ids": ["asst_a"], "pms": {"kind": "sandbox"}});
    if own_secret {
        a["vapi_secret"] = json!(SECRET_A);
    }
    let b = json!({"account_id": "acct_b", "name": "Beta Dental", "time_zone": TIME_ZONE,
        "phone_number_ids": ["pn_b"], "assistant_ids": ["asst_b"], "pms": {"kind": "sandbox"}});
    std::fs::write(&file, json!({"practices": [a, b]}).to_string()).unwrap();
    let mut env = vec![("PRACTICES_FILE", file.to_str().unwrap())];
    env.extend_from_slice(extra);
    (TestApp::spawn_with(&env).await, dir)
}

fn denied_entries(app: &TestApp, resource: &str) -> Vec<Value> {
    app.audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == resource && e["outcome"] == "denied")
        .collect()
}

#[tokio::test]
async fn metadata_naming_another_practice_than_the_number_called_is_refused_and_audited() {
    let (app, _dir) = two_practices(false, &[]).await;
    // Called on A's number, the assistant's metadata claims B.
    let caller = Caller::at("acct_b", "pn_a");
    let answer = app.tool("list_providers", json!({}), &caller).await;
    assert!(answer.err().contains("does not belong"), "{answer:?}");
    let denied = denied_entries(&app, "list_providers");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert!(denied[0]["reason"].as_str().unwrap().contains("disagrees"));
    // Agreeing metadata, or none, is served by the bound practice.
    let ok = app
        .tool(
            "transfer_to_human",
            json!({}),
            &Caller::at("acct_a", "pn_a"),
        )
        .await;
    assert!(
        ok.error.is_none() || ok.err().contains("no transfer number"),
        "{ok:?}"
    );
    let caller = Caller {
        account: None,
        ..Caller::at("x", "pn_b")
    };
    let ok = app.tool("list_providers", json!({}), &caller).await;
    assert!(ok.error.is_none(), "{ok:?}");
}

/// A web call as the dashboard or web SDK starts it: no customer, no phone number.
fn web_call(assistant_id: &str, overrides: Option<Value>, tool_call_id: &str) -> Value {
    let mut call = json!({"id": unique("webcall"), "orgId": "org_test", "type": "webCall",
        "assistantId": assistant_id, "customer": null, "phoneNumberId": null});
    if let Some(o) = overrides {
        call["assistantOverrides"] = o;
    }
    json!({"message": {"type": "tool-calls", "timestamp": 1_728_393_715_369_u64,
        "toolCallList": [{"id": tool_call_id, "type": "function",
            "function": {"name": "transfer_to_human", "arguments": {}}}],
        "call": call, "customer": null, "phoneNumber": null,
        "assistant": {"id": assistant_id, "name": "Receptionist", "metadata": null}}})
}

#[tokio::test]
async fn a_web_call_is_bound_by_its_assistant_and_its_overrides_cannot_move_it() {
    let (app, _dir) = two_practices(false, &[]).await;
    let body = web_call("asst_a", None, "w1");
    let resp = app
        .post_signed("/vapi/tools/transfer_to_human", body.to_string().as_bytes())
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = resp.json().await.unwrap();
    let error = v["results"][0]["error"].as_str().unwrap_or_default();
    // Alpha Dental has no transfer number: the answer comes from A, not "not set up".
    assert!(error.contains("no transfer number"), "{v}");

    let overrides = json!({"metadata": {"accountId": "acct_b"}});
    let body = web_call("asst_a", Some(overrides), "w2");
    let resp = app
        .post_signed("/vapi/tools/transfer_to_human", body.to_string().as_bytes())
        .await;
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["results"][0]["error"]
            .as_str()
            .unwrap()
            .contains("does not belong"),
        "{v}"
    );
    assert_eq!(denied_entries(&app, "transfer_to_human").len(), 1);
}

fn sign_with(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

async fn send_signed(app: &TestApp, secret: &str, caller: &Caller) -> (u16, String) {
    let body = TestApp::message("list_providers", json!({}), caller, &unique("tc")).to_string();
    let ts = fresh_timestamp();
    let resp = app
        .client
        .post(app.url("/vapi/tools/list_providers"))
        .header("content-type", "application/json")
        .header("x-timestamp", &ts)
        .header("x-signature", sign_with(secret, &ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn a_practice_with_its_own_vapi_secret_is_reached_only_with_that_secret() {
    let (app, _dir) = two_practices(true, &[]).await;
    let (a, b) = (Caller::at("acct_a", "pn_a"), Caller::at("acct_b", "pn_b"));
    assert_eq!(
        send_signed(&app, SECRET_A, &a).await.0,
        200,
        "A's own secret"
    );
    let (status, text) = send_signed(&app, &app.secret, &a).await;
    assert_eq!(
        (status, text.as_str()),
        (401, ""),
        "the global secret does not reach A"
    );
    assert_eq!(
        send_signed(&app, &app.secret, &b).await.0,
        200,
        "B has no own secret"
    );
    assert_eq!(
        send_signed(&app, SECRET_A, &b).await.0,
        401,
        "A's secret does not reach B"
    );
    assert_eq!(app.denials(None, 2).await, 2, "both refusals are audited");
    // Nothing was served for the refused requests.
    let served = app
        .audit_entries()
        .iter()
        .filter(|e| e["resource"] == "list_providers")
        .count();
    assert_eq!(served, 2);
}

#[tokio::test]
async fn the_same_call_id_on_two_practices_does_not_share_a_verified_caller() {
    let (app, _dir) = two_practices(false, &[]).await;
    let call_id = unique("shared_call");
    let at_a = Caller {
        call_id: call_id.clone(),
        ..Caller::at("acct_a", "pn_a")
    };
    let at_b = Caller {
        call_id,
        ..Caller::at("acct_b", "pn_b")
    };
    let identity =
        json!({"first_name": OLIVIA.first, "last_name": OLIVIA.last, "date_of_birth": OLIVIA.dob});
    let v = app.tool("search_patients", identity, &at_a).await.json();
    assert_eq!(v["verified"], true, "{v}");
    // Later in the same call at A, the verification is remembered…
    let info = app.tool("get_patient_info", json!({}), &at_a).await;
    assert!(info.ok().contains(OLIVIA.first), "{info:?}");
    // …but the same call id at B verified nobody.
    let info = app.tool("get_patient_info", json!({}), &at_b).await;
    assert!(info.err().contains("not verified"), "{info:?}");
}

#[tokio::test]
async fn a_caller_number_argument_never_verifies_anyone() {
    let app = TestApp::spawn().await;
    let args = json!({"caller_number": OLIVIA.phone});
    let info = app
        .tool("get_patient_info", args.clone(), &Caller::default())
        .await;
    assert!(info.err().contains("not verified"), "{info:?}");
    let v = app
        .tool("search_patients", args, &Caller::default())
        .await
        .json();
    assert_eq!(v["verified"], false, "{v}");
    // The call's own customer number does.
    let info = app
        .tool("get_patient_info", json!({}), &Caller::from(OLIVIA.phone))
        .await;
    assert!(info.ok().contains(OLIVIA.first), "{info:?}");
}

#[tokio::test]
async fn create_patient_verifies_nobody_when_several_records_match() {
    let dir = tempfile::tempdir().unwrap();
    let extra = dir.path().join("extra.json");
    // A second Olivia Bennett born the same day, on another number.
    std::fs::write(
        &extra,
        json!([{"first_name": OLIVIA.first, "last_name": OLIVIA.last, "birth_date": OLIVIA.dob,
                "phone": "+13105550177", "email": "other.olivia@example.com"}])
        .to_string(),
    )
    .unwrap();
    let app = TestApp::spawn_with(&[("SANDBOX_EXTRA_PATIENTS", extra.to_str().unwrap())]).await;
    let caller = Caller::default();
    let args = json!({"first_name": OLIVIA.first, "last_name": OLIVIA.last,
        "date_of_birth": OLIVIA.dob, "phone": "+14155550111"});
    let answer = app.tool("create_patient", args, &caller).await;
    let text = answer.ok();
    assert!(
        text.contains("Several") && !text.contains(OLIVIA.id),
        "{text}"
    );
    let info = app.tool("get_patient_info", json!({}), &caller).await;
    assert!(info.err().contains("not verified"), "{info:?}");
}
