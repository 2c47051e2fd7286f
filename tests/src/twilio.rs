//! A Twilio emulator for the texting tests: the Messages API the gateway calls, checked as
//! Twilio checks it, and the inbound-message webhook Twilio calls, signed as Twilio signs it.
//!
//! **Outbound** (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`): HTTP Basic with the
//! account SID and auth token (else 401, error 20003); the path's account must be the one
//! authenticated (else 404, 20404); a form body (`application/x-www-form-urlencoded`) with `To`
//! in E.164 (else 400, 21211 / 21604), `MessagingServiceSid` of this account's service (else
//! 400, 21701) and a `Body` of 1–1600 characters (else 400, 21602 / 21617). A number that
//! replied STOP is refused with 21610, a number on [`Twilio::invalid`]'s list with 21211. An
//! accepted message is answered 201 with Twilio's message resource (`sid` `SM…`, `status`
//! `accepted`) and kept for the test to read. [`Twilio::fail_next`] answers the next sends with
//! another status (Twilio's 5xx, a 429).
//!
//! **Inbound**: [`Twilio::send_inbound`] posts a text to the gateway's webhook with the
//! parameters Twilio sends (`MessageSid`, `AccountSid`, `MessagingServiceSid`, `From`, `To`,
//! `Body`, `NumMedia`, `NumSegments`, `SmsStatus`, `ApiVersion`, … and `OptOutType` for a
//! keyword, as Advanced Opt-Out does), signed with `X-Twilio-Signature` over the URL and the
//! sorted parameters. A STOP also opts the number out here, as Twilio does.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use base64::Engine;
use hmac::{Hmac, Mac};
use poem::{
    EndpointExt, Request, Response, Route, handler, http::StatusCode, listener::TcpAcceptor, post,
    web::Data, web::Path,
};
use serde_json::{Value, json};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "twilio-test-token-9c4e1a";
pub const MESSAGING_SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";
/// The messaging service's number, the `To` of inbound texts.
pub const SERVICE_NUMBER: &str = "+15105550150";

/// A message the emulator accepted.
#[derive(Debug, Clone)]
pub struct SentText {
    pub sid: String,
    pub to: String,
    pub body: String,
    pub messaging_service_sid: String,
}

#[derive(Default)]
struct State {
    sent: Vec<SentText>,
    opted_out: HashSet<String>,
    invalid: HashSet<String>,
    /// Statuses to answer the next sends with, in order.
    failures: Vec<u16>,
    /// Every request's problems, for requests the gateway should never have made.
    refused: Vec<String>,
}

pub struct Twilio {
    pub base_url: String,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    _task: tokio::task::JoinHandle<()>,
}

impl Twilio {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Twilio emulator");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let app = Route::new()
            .at(
                "/2010-04-01/Accounts/:account/Messages.json",
                post(messages),
            )
            .data(state.clone());
        let acceptor = TcpAcceptor::from_tokio(listener).expect("acceptor");
        let task = tokio::spawn(async move {
            let _ = poem::Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            base_url: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
            _task: task,
        }
    }

    /// The gateway's settings for this account.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID.into()),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN.into()),
            ("TWILIO_MESSAGING_SERVICE_SID", MESSAGING_SERVICE_SID.into()),
            ("TWILIO_API_BASE_URL", self.base_url.clone()),
        ]
    }

    /// The messages accepted so far.
    pub fn sent(&self) -> Vec<SentText> {
        self.state.lock().unwrap().sent.clone()
    }

    /// Requests refused for their shape or credentials (the gateway's mistakes).
    pub fn refused(&self) -> Vec<String> {
        self.state.lock().unwrap().refused.clone()
    }

    /// Waits (polling, with a deadline) until `n` messages were accepted; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<SentText> {
        crate::eventually(std::time::Duration::from_secs(20), || async {
            let sent = self.sent();
            (sent.len() >= n).then_some(sent)
        })
        .await
        .unwrap_or_else(|| panic!("{n} texts were not sent: {:?}", self.sent()))
    }

    /// Twilio treats `number` as not a valid mobile number (error 21211).
    pub fn invalid(&self, number: &str) {
        self.state.lock().unwrap().invalid.insert(number.into());
    }

    /// `number` opted out at Twilio without the gateway hearing of it.
    pub fn opted_out_here(&self, number: &str) {
        self.state.lock().unwrap().opted_out.insert(number.into());
    }

    /// The next sends are answered with these statuses, in order.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .failures
            .extend_from_slice(statuses);
    }

    /// Twilio's signature of a POST to `url` with `params`.
    pub fn sign(token: &str, url: &str, params: &[(String, String)]) -> String {
        let mut sorted: Vec<_> = params.iter().collect();
        sorted.sort();
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
        mac.update(url.as_bytes());
        for (k, v) in sorted {
            mac.update(k.as_bytes());
            mac.update(v.as_bytes());
        }
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    /// The parameters Twilio posts for a text `body` from `from`.
    pub fn inbound_params(from: &str, body: &str) -> Vec<(String, String)> {
        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
        let mut params: Vec<(String, String)> = [
            ("ToCountry", "US"),
            ("ToState", "CA"),
            ("SmsMessageSid", sid.as_str()),
            ("NumMedia", "0"),
            ("ToCity", "OAKLAND"),
            ("FromZip", "94110"),
            ("SmsSid", sid.as_str()),
            ("FromState", "CA"),
            ("SmsStatus", "received"),
            ("FromCity", "SAN FRANCISCO"),
            ("Body", body),
            ("FromCountry", "US"),
            ("To", SERVICE_NUMBER),
            ("MessagingServiceSid", MESSAGING_SERVICE_SID),
            ("ToZip", "94601"),
            ("NumSegments", "1"),
            ("MessageSid", sid.as_str()),
            ("AccountSid", ACCOUNT_SID),
            ("From", from),
            ("ApiVersion", "2010-04-01"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let keyword = body.trim().to_ascii_uppercase();
        let kind = match keyword.as_str() {
            "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some("STOP"),
            "START" | "YES" | "UNSTOP" => Some("START"),
            "HELP" | "INFO" => Some("HELP"),
            _ => None,
        };
        if let Some(kind) = kind {
            params.push(("OptOutType".into(), kind.into()));
        }
        params
    }

    /// Posts `params` to `url` signed with `token` (Twilio's own when `None`), as Twilio does.
    pub async fn post_signed(
        &self,
        url: &str,
        params: &[(String, String)],
        token: Option<&str>,
    ) -> reqwest::Response {
        let signature = Self::sign(token.unwrap_or(AUTH_TOKEN), url, params);
        self.post(url, &signature, params).await
    }

    /// Posts `params` to `url` with Twilio's signature for `signed_url` (the URL Twilio was
    /// configured with, which a proxy may have rewritten on the way).
    pub async fn post_signed_for(
        &self,
        url: &str,
        signed_url: &str,
        params: &[(String, String)],
    ) -> reqwest::Response {
        let signature = Self::sign(AUTH_TOKEN, signed_url, params);
        self.post(url, &signature, params).await
    }

    async fn post(
        &self,
        url: &str,
        signature: &str,
        params: &[(String, String)],
    ) -> reqwest::Response {
        let body: String = form_body(params);
        self.client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .header(
                "i-twilio-idempotency-token",
                uuid::Uuid::new_v4().to_string(),
            )
            .body(body)
            .send()
            .await
            .expect("the webhook answers")
    }

    /// A text `body` from `from` delivered to the gateway's webhook at `url`, signed; a STOP or
    /// START also changes the number's standing here, as Twilio's opt-out handling does.
    pub async fn send_inbound(&self, url: &str, from: &str, body: &str) -> reqwest::Response {
        let params = Self::inbound_params(from, body);
        match params
            .iter()
            .find(|(k, _)| k == "OptOutType")
            .map(|(_, v)| v.as_str())
        {
            Some("STOP") => {
                self.state.lock().unwrap().opted_out.insert(from.into());
            }
            Some("START") => {
                self.state.lock().unwrap().opted_out.remove(from);
            }
            _ => {}
        }
        self.post_signed(url, &params, None).await
    }
}

/// `params` form-encoded.
pub fn form_body(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(body.to_string())
}

/// E.164 as Twilio accepts it: `+`, then 8 to 15 digits not starting with 0.
fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

#[handler]
async fn messages(
    req: &Request,
    Path(account): Path<String>,
    body: String,
    Data(state): Data<&Arc<Mutex<State>>>,
) -> Response {
    let refuse = |why: String, response: Response| {
        state.lock().unwrap().refused.push(why);
        response
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str()) {
        return refuse(
            "bad credentials".into(),
            twilio_error(401, 20003, "Authenticate"),
        );
    }
    if account != ACCOUNT_SID {
        return refuse(
            format!("account {account} in the path"),
            twilio_error(404, 20404, "The requested resource was not found"),
        );
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return refuse(
            format!("content type {content_type:?}"),
            twilio_error(400, 21620, "Invalid media type"),
        );
    }
    let params: HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let to = params.get("To").cloned().unwrap_or_default();
    if to.is_empty() {
        return refuse(
            "no To".into(),
            twilio_error(400, 21604, "A 'To' phone number is required."),
        );
    }
    if params.get("MessagingServiceSid").map(String::as_str) != Some(MESSAGING_SERVICE_SID) {
        return refuse(
            "wrong or missing MessagingServiceSid".into(),
            twilio_error(400, 21701, "The Messaging Service Sid is invalid"),
        );
    }
    let text = params.get("Body").cloned().unwrap_or_default();
    if text.is_empty() {
        return refuse(
            "no Body".into(),
            twilio_error(400, 21602, "Message body is required."),
        );
    }
    if text.chars().count() > 1600 {
        return refuse(
            "Body over 1600 characters".into(),
            twilio_error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            ),
        );
    }
    let mut st = state.lock().unwrap();
    if let Some(status) = (!st.failures.is_empty()).then(|| st.failures.remove(0)) {
        let code = if status == 429 { 20429 } else { 20500 };
        return twilio_error(status, code, "Internal Server Error");
    }
    if !is_e164(&to) || st.invalid.contains(&to) {
        return twilio_error(400, 21211, &format!("Invalid 'To' Phone Number: {to}"));
    }
    if st.opted_out.contains(&to) {
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient");
    }
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    st.sent.push(SentText {
        sid: sid.clone(),
        to: to.clone(),
        body: text.clone(),
        messaging_service_sid: MESSAGING_SERVICE_SID.into(),
    });
    let resource: Value = json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": text,
        "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
        "date_sent": null,
        "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
        "direction": "outbound-api",
        "error_code": null,
        "error_message": null,
        "from": null,
        "messaging_service_sid": MESSAGING_SERVICE_SID,
        "num_media": "0",
        "num_segments": "0",
        "price": null,
        "price_unit": null,
        "sid": sid,
        "status": "accepted",
        "subresource_uris": {"media": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json")},
        "to": to,
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
    });
    Response::builder()
        .status(StatusCode::CREATED)
        .content_type("application/json")
        .body(resource.to_string())
}
