//! `take_message`: recorded, audited without its content, the caller told when to expect a call
//! back, listed for the staff behind the admin token only.

use gateway_tests::{Backend, Caller, TestApp, both, clock, cognito::UserPool, fixture};
use jiff::ToSpan;
use serde_json::{Value, json};

use crate::common::*;

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
    a_message_is_recorded_audited_and_listed_for_the_staff_only,
    a_message_without_a_number_to_call_back_is_refused_precisely,
);
