//! Texts, as patients and the front desk meet them, on both backends, against the Twilio
//! emulator (`gateway_tests::twilio`): a confirmation only to a patient who agreed
//! (`record_sms_consent`), only once the practice's system applied the change (a pending write
//! texts when it settles), in the practice's name and time zone and without the visit's reason;
//! STOP and START from Twilio's signed inbound webhook withdraw and restore texts (an unsigned
//! or forged one is refused and audited); Twilio's failures never change the caller's answer and
//! are audited; `take_message` texts the practice's staff number.

use gateway_tests::{
    Backend, Caller, TestApp, both, fixture,
    fixture::{NOAH, OLIVIA},
    twilio::{self, Twilio},
};
use serde_json::{Value, json};

async fn spawn(backend: Backend, twilio: &Twilio, extra: &[(&str, &str)]) -> TestApp {
    let env = twilio.env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    TestApp::spawn_on(backend, &all).await
}

fn entries(app: &TestApp, resource: &str) -> Vec<Value> {
    app.audit_entries()
        .into_iter()
        .filter(|e| e["resource"] == resource && e["outcome"] != "intent")
        .collect()
}

/// The audit entries of confirmation texts, once there are `n`.
async fn text_entries(app: &TestApp, n: usize) -> Vec<Value> {
    gateway_tests::eventually(std::time::Duration::from_secs(20), || async {
        let found = entries(app, "sms_confirmation");
        (found.len() >= n).then_some(found)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "{n} text audit entries: {:?}",
            entries(app, "sms_confirmation")
        )
    })
}

/// Books the first free slot on `day` for the caller; the answer.
async fn book(app: &TestApp, caller: &Caller, day: jiff::civil::Date, reason: &str) -> String {
    let (time, provider) = app.first_free_slot(day).await;
    let args =
        json!({"date": day.to_string(), "time": time, "provider_id": provider, "reason": reason});
    app.tool("book_appointment", args, caller)
        .await
        .ok()
        .to_owned()
}

/// The zone abbreviation the practice uses on `day` (PST or PDT).
fn zone_on(day: jiff::civil::Date) -> String {
    day.at(12, 0, 0, 0)
        .in_tz(fixture::TIME_ZONE)
        .unwrap()
        .strftime("%Z")
        .to_string()
}

fn last_four(phone: &str) -> &str {
    &phone[phone.len() - 4..]
}

async fn a_patient_who_agreed_is_texted_each_confirmed_change_and_nobody_else(backend: Backend) {
    let twilio = Twilio::start().await;
    let app = spawn(backend, &twilio, &[]).await;
    // Noah never agreed: his booking is not texted, and the answer promises nothing.
    let noah = Caller::from(NOAH.phone);
    let answer = book(&app, &noah, fixture::open_day(1), "cleaning").await;
    assert!(
        answer.contains("confirmed") && !answer.contains("text"),
        "{answer}"
    );

    let olivia = Caller::from(OLIVIA.phone);
    let consent = app.tool("record_sms_consent", json!({}), &olivia).await;
    assert!(
        consent.ok().contains("Recorded") && consent.ok().contains(last_four(OLIVIA.phone)),
        "{consent:?}"
    );
    let day = fixture::open_day(2);
    let answer = book(&app, &olivia, day, "root canal pain").await;
    assert!(
        answer.contains("confirmed")
            && answer.contains(&format!(
                "confirmation text is being sent to the number ending in {}",
                last_four(OLIVIA.phone)
            )),
        "{answer}"
    );
    let sent = twilio.wait_for(1).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = &sent[0];
    assert_eq!(text.to, OLIVIA.phone);
    assert_eq!(text.messaging_service_sid, twilio::MESSAGING_SERVICE_SID);
    for part in [
        fixture::PRACTICE_NAME,
        "your appointment is booked for",
        &day.strftime("%A, %B %-d").to_string(),
        &format!("Times are {}.", zone_on(day)),
        "Reply STOP",
    ] {
        assert!(text.body.contains(part), "{part:?} in {:?}", text.body);
    }
    assert!(
        !text.body.contains("root canal"),
        "no clinical detail: {}",
        text.body
    );

    // Cancelled: a second text says so.
    let mine = app
        .tool("get_appointments", json!({}), &olivia)
        .await
        .json();
    let id = mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["date"] == day.to_string())
        .expect("the booked appointment")["appointment_id"]
        .clone();
    let cancelled = app
        .tool("cancel_appointment", json!({"appointment_id": id}), &olivia)
        .await;
    assert!(
        cancelled.ok().contains("confirmation text"),
        "{cancelled:?}"
    );
    let sent = twilio.wait_for(2).await;
    assert!(sent[1].body.contains("is cancelled"), "{}", sent[1].body);
    assert!(sent.iter().all(|t| t.to == OLIVIA.phone), "{sent:?}");
    assert!(twilio.refused().is_empty(), "{:?}", twilio.refused());

    // Each text and the consent are audited, about Olivia, without the number or the words.
    let audited = text_entries(&app, 2).await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    for e in &audited {
        assert_eq!(
            (e["action"].as_str(), e["outcome"].as_str()),
            (Some("notify"), Some("success"))
        );
        assert_eq!(e["patient_ids"], json!([OLIVIA.id]));
        let reason = e["reason"].as_str().unwrap();
        assert!(
            !reason.contains(&OLIVIA.phone[2..]) && !reason.contains("Reply"),
            "{reason}"
        );
    }
    let consents = entries(&app, "record_sms_consent");
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0]["patient_ids"], json!([OLIVIA.id]));
}

async fn stop_from_the_patient_stops_texts_until_start(backend: Backend) {
    let twilio = Twilio::start().await;
    let app = spawn(backend, &twilio, &[]).await;
    let olivia = Caller::from(OLIVIA.phone);
    app.tool("record_sms_consent", json!({}), &olivia)
        .await
        .ok();
    let webhook = app.url("/twilio/inbound");

    let stop = twilio.send_inbound(&webhook, OLIVIA.phone, "Stop").await;
    assert_eq!(stop.status().as_u16(), 200);
    assert!(
        stop.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml"),
        "TwiML"
    );
    assert!(stop.text().await.unwrap().contains("<Response>"));
    let audited = entries(&app, "sms_consent");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["actor"]["kind"], "twilio");
    assert_eq!(audited[0]["actor"]["caller"], OLIVIA.phone);
    assert!(audited[0]["reason"].as_str().unwrap().contains("STOP"));

    // Opted out: a booking is not texted, and consent on a call cannot override the STOP.
    let answer = book(&app, &olivia, fixture::open_day(1), "cleaning").await;
    assert!(
        answer.contains("confirmed") && !answer.contains("text"),
        "{answer}"
    );
    let withheld = text_entries(&app, 1).await;
    assert_eq!(withheld[0]["outcome"], "denied", "withheld, and audited so");
    assert!(
        withheld[0]["reason"]
            .as_str()
            .unwrap()
            .contains("replied STOP")
    );
    let again = app.tool("record_sms_consent", json!({}), &olivia).await;
    assert!(
        again.ok().contains("replied STOP") && again.ok().contains("START"),
        "{again:?}"
    );
    // HELP changes nothing.
    let help = twilio.send_inbound(&webhook, OLIVIA.phone, "HELP").await;
    assert_eq!(help.status().as_u16(), 200);

    let start = twilio.send_inbound(&webhook, OLIVIA.phone, "START").await;
    assert_eq!(start.status().as_u16(), 200);
    let answer = book(&app, &olivia, fixture::open_day(2), "cleaning").await;
    assert!(answer.contains("confirmation text"), "{answer}");
    let sent = twilio.wait_for(1).await;
    assert_eq!(sent.len(), 1, "only the booking after START: {sent:?}");
    assert!(
        sent[0]
            .body
            .contains(&fixture::open_day(2).strftime("%B %-d").to_string())
    );
    assert_eq!(
        entries(&app, "sms_consent").len(),
        2,
        "STOP and START audited"
    );
}

async fn an_inbound_text_not_signed_by_twilio_is_refused_and_audited(backend: Backend) {
    let twilio = Twilio::start().await;
    let public = "https://gateway.example.com";
    let app = spawn(backend, &twilio, &[("PUBLIC_BASE_URL", public)]).await;
    let olivia = Caller::from(OLIVIA.phone);
    app.tool("record_sms_consent", json!({}), &olivia)
        .await
        .ok();
    let webhook = app.url("/twilio/inbound");
    let stop = Twilio::inbound_params(OLIVIA.phone, "STOP");

    let unsigned = app
        .client
        .post(&webhook)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(twilio::form_body(&stop))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    let forged = twilio
        .post_signed(&webhook, &stop, Some("not-the-token"))
        .await;
    assert_eq!(forged.status().as_u16(), 403);
    let mut other_account = stop.clone();
    for (k, v) in &mut other_account {
        if k == "AccountSid" {
            *v = "AC99999999999999999999999999999999".into();
        }
    }
    let foreign = twilio.post_signed(&webhook, &other_account, None).await;
    assert_eq!(foreign.status().as_u16(), 403);
    let elsewhere = "https://evil.example.com/twilio/inbound";
    let replayed = twilio.post_signed_for(&webhook, elsewhere, &stop).await;
    assert_eq!(replayed.status().as_u16(), 403);
    assert_eq!(app.denials(Some("/twilio/inbound"), 4).await, 4);
    assert!(entries(&app, "sms_consent").is_empty(), "nothing recorded");

    // Still consented: the booking is texted.
    let answer = book(&app, &olivia, fixture::open_day(1), "cleaning").await;
    assert!(answer.contains("confirmation text"), "{answer}");
    twilio.wait_for(1).await;

    // Twilio signs the public URL it was given (here with the default port spelled out).
    let configured = format!("{public}:443/twilio/inbound");
    let accepted = twilio.post_signed_for(&webhook, &configured, &stop).await;
    assert_eq!(accepted.status().as_u16(), 200);
    assert_eq!(entries(&app, "sms_consent").len(), 1);
}

async fn twilios_failures_never_change_the_answer_and_are_audited(backend: Backend) {
    let twilio = Twilio::start().await;
    let app = spawn(backend, &twilio, &[]).await;
    let olivia = Caller::from(OLIVIA.phone);
    app.tool("record_sms_consent", json!({}), &olivia)
        .await
        .ok();

    twilio.fail_next(&[500]);
    let failed = book(&app, &olivia, fixture::open_day(1), "cleaning").await;
    let audited = text_entries(&app, 1).await;
    assert_eq!(audited[0]["outcome"], "failed");
    assert!(
        audited[0]["reason"].as_str().unwrap().contains("HTTP 500"),
        "{}",
        audited[0]
    );
    let delivered = book(&app, &olivia, fixture::open_day(2), "cleaning").await;
    twilio.wait_for(1).await;
    let shape = |a: &str| {
        (
            a.contains("Booked and confirmed"),
            a.contains("A confirmation text is being sent to the number ending in"),
        )
    };
    assert_eq!(shape(&failed), (true, true), "{failed}");
    assert_eq!(shape(&failed), shape(&delivered), "{failed} / {delivered}");

    // A number Twilio cannot text: the booking stands; the refusal is audited.
    let noah = Caller::from(NOAH.phone);
    let given = "+15005550009";
    twilio.invalid(given);
    let consent = app
        .tool(
            "record_sms_consent",
            json!({"phone": "(500) 555-0009"}),
            &noah,
        )
        .await;
    assert!(consent.ok().contains("0009"), "{consent:?}");
    let answer = book(&app, &noah, fixture::open_day(3), "cleaning").await;
    assert!(
        answer.contains("Booked and confirmed") && answer.contains("0009"),
        "{answer}"
    );
    let audited = text_entries(&app, 3).await;
    let refused = audited
        .iter()
        .find(|e| e["patient_ids"] == json!([NOAH.id]))
        .unwrap();
    assert_eq!(refused["outcome"], "failed");
    assert!(
        refused["reason"].as_str().unwrap().contains("21211"),
        "{refused}"
    );
    assert!(!refused.to_string().contains("5550009"), "{refused}");

    // Opted out at Twilio only: withheld (denied), and the gateway learns of it.
    twilio.opted_out_here(OLIVIA.phone);
    book(&app, &olivia, fixture::open_day(4), "cleaning").await;
    let audited = text_entries(&app, 4).await;
    assert!(
        audited.iter().any(
            |e| e["outcome"] == "denied" && e["reason"].as_str().unwrap().contains("opted out")
        ),
        "{audited:?}"
    );
    let again = app.tool("record_sms_consent", json!({}), &olivia).await;
    assert!(again.ok().contains("replied STOP"), "{again:?}");
    assert_eq!(twilio.sent().len(), 1, "only the one text Twilio accepted");
}

async fn a_pending_booking_is_texted_when_it_settles_not_before(backend: Backend) {
    let twilio = Twilio::start().await;
    let app = spawn(
        backend,
        &twilio,
        &[
            ("SANDBOX_WRITE_DELAY_MS", "2500"),
            ("BOOKING_CONFIRM_WAIT_MS", "300"),
        ],
    )
    .await;
    let olivia = Caller::from(OLIVIA.phone);
    app.tool("record_sms_consent", json!({}), &olivia)
        .await
        .ok();
    let answer = book(&app, &olivia, fixture::open_day(1), "cleaning").await;
    assert!(
        answer.contains("not confirmed yet") && !answer.contains("text"),
        "{answer}"
    );
    assert!(twilio.sent().is_empty(), "no text while pending");
    let sent = twilio.wait_for(1).await;
    assert!(
        sent[0].body.contains("your appointment is booked for"),
        "{}",
        sent[0].body
    );
    let audited = text_entries(&app, 1).await;
    assert_eq!(
        audited[0]["actor"]["kind"], "system",
        "sent as the write settled"
    );
}

async fn a_message_for_the_front_desk_is_texted_to_the_staff(backend: Backend) {
    let twilio = Twilio::start().await;
    let pool = gateway_tests::cognito::UserPool::start().await;
    let pool_env = pool.env();
    let extra: Vec<(&str, &str)> = pool_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn(backend, &twilio, &extra).await;
    let caller = Caller::from(OLIVIA.phone);
    let answer = app
        .tool(
            "take_message",
            json!({"caller_name": "Olivia Bennett", "reason": "Swelling since last night", "urgency": "urgent"}),
            &caller,
        )
        .await;
    assert!(answer.ok().contains("recorded"), "{answer:?}");
    let sent = twilio.wait_for(1).await;
    assert_eq!(sent[0].to, fixture::STAFF_SMS_NUMBER);
    for part in [
        "URGENT",
        fixture::PRACTICE_NAME,
        "Olivia Bennett",
        OLIVIA.phone,
        "Swelling since last night",
    ] {
        assert!(sent[0].body.contains(part), "{part} in {}", sent[0].body);
    }
    // The kept message says which text delivered it.
    let listed = gateway_tests::eventually(std::time::Duration::from_secs(10), || async {
        let token = pool.token(gateway_tests::clock().now().as_second());
        let resp = app
            .client
            .get(app.url("/practices/acct_demo/messages"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let body: Value = resp.json().await.unwrap();
        let m = body["messages"][0].clone();
        m.get("texted_sid").is_some().then_some(m)
    })
    .await
    .expect("the message notes its text");
    assert_eq!(listed["texted_sid"], sent[0].sid.as_str());
    let audited = entries(&app, "sms_front_desk_message");
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0]["outcome"], "success");
    assert!(
        !audited[0].to_string().contains("Swelling"),
        "{}",
        audited[0]
    );
}

both!(
    a_patient_who_agreed_is_texted_each_confirmed_change_and_nobody_else,
    stop_from_the_patient_stops_texts_until_start,
    an_inbound_text_not_signed_by_twilio_is_refused_and_audited,
    twilios_failures_never_change_the_answer_and_are_audited,
    a_pending_booking_is_texted_when_it_settles_not_before,
    a_message_for_the_front_desk_is_texted_to_the_staff,
);

/// Without Twilio settings nothing is texted, consent is not recorded, and the webhook says
/// texting is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_twilio_settings_the_assistant_hears_the_practice_does_not_text() {
    let app = TestApp::spawn_on(Backend::Sandbox, &[]).await;
    let olivia = Caller::from(OLIVIA.phone);
    let consent = app.tool("record_sms_consent", json!({}), &olivia).await;
    assert!(
        consent.err().contains("does not send text messages"),
        "{consent:?}"
    );
    let resp = app
        .client
        .post(app.url("/twilio/inbound"))
        .body("From=%2B13105550100&Body=STOP")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
}
