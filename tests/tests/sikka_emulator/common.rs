//! What the emulator's tests share: a client that reads answers, the documented shapes, and
//! helpers to find a free slot and follow a writeback.

pub(crate) use std::time::Duration;

pub(crate) use gateway::pms::PracticeSystem;
pub(crate) use gateway::pms::sandbox::{SandboxConfig, SandboxPractice, fixture};
pub(crate) use gateway_tests::sikka::{
    DEFAULT_APP_ID, DEFAULT_APP_KEY, DEFAULT_CUST_ID, DEFAULT_OFFICE_ID, DEFAULT_PRACTICE_ID,
    DEFAULT_SECRET_KEY, SikkaEmulator, SikkaOptions, WritebackStatusShape,
};
pub(crate) use jiff::civil::{Date, Time, date};
pub(crate) use serde_json::{Value, json};

/// A Monday, like the sandbox's own tests.
pub(crate) const TODAY: Date = date(2030, 3, 4);

pub(crate) fn options() -> SikkaOptions {
    SikkaOptions::for_today(TODAY)
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) text: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error/message envelope's `error_code`, checking every value is a string.
    pub(crate) fn code(&self) -> String {
        let v = self.json();
        let o = v.as_object().expect("an envelope object");
        assert!(o.values().all(Value::is_string), "non-string in {v}");
        assert_eq!(v["http_code"], self.status.to_string(), "{v}");
        v["error_code"].as_str().unwrap_or_default().to_owned()
    }
}

/// A plain HTTP client for the emulator.
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) key: Option<String>,
}

impl Client {
    pub(crate) fn new(sikka: &SikkaEmulator) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sikka.base_url().to_owned(),
            key: None,
        }
    }

    /// A client holding a fresh request key.
    pub(crate) async fn authorized(sikka: &SikkaEmulator) -> Self {
        let mut c = Self::new(sikka);
        let grant = c.grant().await;
        c.key = Some(grant["request_key"].as_str().unwrap().to_owned());
        c
    }

    pub(crate) async fn grant(&self) -> Value {
        let a = self
            .send(
                reqwest::Method::POST,
                "/request_key",
                &[],
                Some(json!({"grant_type": "request_key", "office_id": DEFAULT_OFFICE_ID,
                    "secret_key": DEFAULT_SECRET_KEY, "app_id": DEFAULT_APP_ID, "app_key": DEFAULT_APP_KEY})),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.json()
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}{path_and_query}", self.base)
        };
        let mut req = self.http.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        Answer {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.expect("body"),
        }
    }

    /// With this client's request key, in lower case to show header names are case-insensitive.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let key = self.key.clone().expect("a request key");
        self.send(method, path, &[("request-key", &key)], body)
            .await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub(crate) async fn app_get(&self, path: &str) -> Answer {
        self.send(
            reqwest::Method::GET,
            path,
            &[("App-Id", DEFAULT_APP_ID), ("App-Key", DEFAULT_APP_KEY)],
            None,
        )
        .await
    }

    pub(crate) async fn writeback_status(&self, id: &str) -> Value {
        let a = self.get(&format!("/writeback_status?id={id}")).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let v = a.json();
        let env = if v.is_array() { &v[0] } else { &v };
        env["items"][0].clone()
    }
}

/// The writeback id from a write's answer (`long_message: "Id:275495"`).
pub(crate) fn writeback_id(answer: &Value) -> String {
    let id = answer["long_message"]
        .as_str()
        .and_then(|m| m.strip_prefix("Id:"))
        .expect("Id:<n> in long_message")
        .to_owned();
    assert!(
        answer["more_information"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/writeback_status?id={id}")),
        "{answer}"
    );
    id
}

/// Asserts `actual` has `documented`'s shape: the same keys, strings where it has strings,
/// arrays where it has arrays (every element shaped like the documented first one).
pub(crate) fn same_shape(documented: &Value, actual: &Value, at: &str) {
    match (documented, actual) {
        (Value::Object(d), Value::Object(a)) => {
            let mut dk: Vec<_> = d.keys().collect();
            let mut ak: Vec<_> = a.keys().collect();
            dk.sort();
            ak.sort();
            assert_eq!(dk, ak, "keys differ at {at}");
            for (k, v) in d {
                same_shape(v, &a[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(d), Value::Array(a)) => {
            if let Some(first) = d.first() {
                assert!(!a.is_empty(), "empty array at {at}");
                for (i, item) in a.iter().enumerate() {
                    same_shape(first, item, &format!("{at}[{i}]"));
                }
            }
        }
        (Value::String(_), Value::String(_)) => {}
        (d, a) => panic!("at {at}: documented {d}, emulator answered {a}"),
    }
}

/// A free `length`-minute start for `provider` in `operatory` on `day`, from the emulator's own
/// appointments and the fixture's schedule.
pub(crate) async fn free_slot(c: &Client, day: Date, provider: &str, operatory: &str) -> Time {
    let a = c
        .get(&format!(
            "/appointments?startdate={day}&enddate={day}&fields=get_all&limit=5000"
        ))
        .await;
    let items = if a.status == 204 {
        Vec::new()
    } else {
        a.json()["items"].as_array().unwrap().clone()
    };
    let busy: Vec<(i64, i64)> = items
        .iter()
        .filter(|i| {
            !["Cancelled", "Broken"].contains(&i["status"].as_str().unwrap())
                && (i["provider_id"] == provider || i["operatory"] == operatory)
        })
        .map(|i| {
            let t: Time = i["time"].as_str().unwrap().parse().unwrap();
            let s = i64::from(t.hour()) * 60 + i64::from(t.minute());
            (s, s + i["length"].as_str().unwrap().parse::<i64>().unwrap())
        })
        .collect();
    for block in &fixture::weekly_schedule()[day.weekday().to_monday_zero_offset() as usize] {
        if block
            .provider_id
            .as_ref()
            .is_some_and(|p| p.as_str() != provider)
        {
            continue;
        }
        let (start, end) = (
            i64::from(block.start.hour()) * 60,
            i64::from(block.end.hour()) * 60,
        );
        let mut t = start;
        while t + 30 <= end {
            if busy.iter().all(|(s, e)| t + 30 <= *s || *e <= t) {
                return Time::new((t / 60) as i8, (t % 60) as i8, 0, 0).unwrap();
            }
            t += 30;
        }
    }
    panic!("no free slot on {day}");
}

pub(crate) fn booking(day: Date, time: Time, provider: &str, operatory: &str) -> Value {
    json!({
        "patient_id": "1001", "date": day.to_string(), "time": time.strftime("%H:%M").to_string(),
        "length": "30", "description": "Exam", "provider_id": provider, "operatory": operatory,
        "practice_id": DEFAULT_PRACTICE_ID,
    })
}

pub(crate) async fn wait_completed(c: &Client, id: &str) -> Value {
    for _ in 0..100 {
        let item = c.writeback_status(id).await;
        if item["is_completed"] == "True" {
            return item;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("writeback {id} never completed");
}

pub(crate) mod writeback {
    /// Writebacks are stamped in UTC; `GET /writebacks` filters on that date.
    pub fn today_utc() -> jiff::civil::Date {
        gateway_tests::clock()
            .now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date()
    }
}
