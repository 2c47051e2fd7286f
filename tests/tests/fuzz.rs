//! Black-box fuzzing of the Vapi routes: hundreds of bodies, correctly signed, sent to the
//! running gateway's `/vapi/tools/{tool}` and `/vapi/webhook` — Vapi's documented server
//! messages and real tool calls, mutated byte by byte or value by value, and generated envelopes
//! with several calls. However odd the body, the gateway answers: never a 5xx, never a 401 for a
//! request Vapi signed, and every 200 to a tool call carries exactly one result per call, in
//! order, each a single line with either `result` or `error`.
//!
//! The bodies come from a seeded generator, so a failure reproduces: the failing seed and body
//! are printed, and `FUZZ_SEED=<n>` replays that run.

use std::collections::HashSet;

use gateway::vapi::envelope::{MessageKind, parse};
use gateway_tests::{Caller, TestApp};
use serde_json::{Value, json};

/// The tools, as the gateway names them.
fn tools() -> Vec<&'static str> {
    gateway::receptionist::Tool::ALL
        .iter()
        .map(|t| t.name())
        .collect()
}
/// Requests per run: a few seconds against a debug build.
const CASES: usize = 1000;
const PARALLEL: usize = 8;

/// SplitMix64: small, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn documented_bodies() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/vapi/server-messages.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let all: Vec<Value> = serde_json::from_str(&text).expect("server-messages.json is JSON");
    all.into_iter().map(|e| e["body"].clone()).collect()
}

/// Plausible arguments, so the mutations start from calls the receptionist really acts on.
fn plausible_args(tool: &str) -> Value {
    match tool {
        "check_availability" => json!({"date": "2031-06-03", "part_of_day": "morning"}),
        "book_appointment" | "reschedule_appointment" => {
            json!({"first_name": "Olivia", "last_name": "Bennett", "birth_date": "1985-03-14",
                   "appointment_id": "A1", "date": "2031-06-03", "time": "09:00", "provider_id": "DDS1"})
        }
        "cancel_appointment" => json!({"appointment_id": "A1", "reason": "feeling better"}),
        "create_patient" | "update_patient" => {
            json!({"first_name": "Ana", "last_name": "Ruiz", "birth_date": "1990-04-02",
                   "phone": "(310) 555-0100", "email": "ana@example.com"})
        }
        "transfer_to_human" => json!({"reason": "billing"}),
        "list_providers" => json!({}),
        _ => json!({"first_name": "Olivia", "last_name": "Bennett", "birth_date": "1985-03-14"}),
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.next().is_multiple_of(2)),
        2 => json!(rng.next() as i64),
        3 => json!(f64::from_bits(rng.next() >> 2)),
        4 => json!(
            [
                "",
                "2031-06-03",
                "09:00",
                "+14155550123",
                "DDS1",
                "é\u{0}\n\"",
                "x".repeat(300).as_str()
            ][rng.below(7)]
        ),
        5 => json!(format!("{:x}", rng.next())),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(4))
                .map(|i| (format!("k{i}"), random_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// Every container value below the root, by path, for replacement.
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        at.push(key);
        out.push(at.clone());
        paths(child, at, out);
        at.pop();
    }
}

fn replace_at(root: &mut Value, path: &[String], new: Option<Value>) {
    let (last, parents) = path.split_last().expect("a path below the root");
    let mut v = root;
    for key in parents {
        v = match v {
            Value::Object(m) => m.get_mut(key).expect("path exists"),
            Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
            _ => unreachable!(),
        };
    }
    match (v, new) {
        (Value::Object(m), Some(new)) => {
            m.insert(last.clone(), new);
        }
        (Value::Object(m), None) => {
            m.remove(last);
        }
        (Value::Array(a), Some(new)) => a[last.parse::<usize>().unwrap()] = new,
        (Value::Array(a), None) => {
            a.remove(last.parse::<usize>().unwrap());
        }
        _ => unreachable!(),
    }
}

fn mutate_value(rng: &mut Rng, mut body: Value) -> Value {
    for _ in 0..1 + rng.below(3) {
        let mut all = Vec::new();
        paths(&body, &mut Vec::new(), &mut all);
        if all.is_empty() {
            break;
        }
        let path = rng.pick(&all).clone();
        let new = match rng.below(5) {
            0 => None,
            1 => Some(Value::Null),
            _ => Some(random_value(rng, 2)),
        };
        replace_at(&mut body, &path, new);
    }
    body
}

fn mutate_bytes(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    const JSONISH: &[u8] = b"{}[]\",:\\0123456789-.etrufalsn ";
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(4) {
            0 => {
                let end = (at + 1 + rng.below(6)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 => bytes.insert(at, *rng.pick(JSONISH)),
            2 => bytes[at] ^= 1 << rng.below(8),
            _ => bytes.truncate(at),
        }
    }
    bytes
}

/// A `tool-calls` message with several calls, their names, ids and arguments in any form.
fn generated(rng: &mut Rng, route_tool: &str) -> Value {
    let calls: Vec<Value> = (0..1 + rng.below(4))
        .map(|i| {
            let name = if rng.below(3) == 0 {
                *rng.pick(&tools())
            } else {
                route_tool
            };
            let args = match rng.below(4) {
                0 => Value::String(plausible_args(name).to_string()),
                1 => random_value(rng, 3),
                _ => mutate_value(rng, plausible_args(name)),
            };
            json!({"id": format!("gen_{i}_{:x}", rng.next()), "type": "function",
                   "function": {"name": name, "arguments": args}})
        })
        .collect();
    let list = *rng.pick(&["toolCallList", "toolCalls"]);
    let caller = Caller::default();
    let mut body = TestApp::message(route_tool, json!({}), &caller, "unused");
    body["message"]
        .as_object_mut()
        .unwrap()
        .remove("toolCallList");
    body["message"][list] = Value::Array(calls);
    body
}

/// The case'th body and the route it goes to.
fn case(rng: &mut Rng, documented: &[Value]) -> (String, Vec<u8>) {
    let tool = *rng.pick(&tools());
    let path = if rng.below(4) == 0 {
        "/vapi/webhook".to_owned()
    } else {
        format!("/vapi/tools/{tool}")
    };
    let base = if rng.below(3) == 0 {
        rng.pick(documented).clone()
    } else {
        let caller = Caller::from("+14155550123");
        TestApp::message(
            tool,
            plausible_args(tool),
            &caller,
            &format!("tc_{:x}", rng.next()),
        )
    };
    let body = match rng.below(4) {
        0 => mutate_bytes(rng, serde_json::to_vec(&base).unwrap()),
        1 => serde_json::to_vec(&generated(rng, tool)).unwrap(),
        _ => serde_json::to_vec(&mutate_value(rng, base)).unwrap(),
    };
    (path, body)
}

/// What a user of the route would notice; `Err` says what is wrong.
fn judge(path: &str, body: &[u8], status: u16, answer: &str) -> Result<(), String> {
    if status >= 500 || status == 401 {
        return Err(format!("HTTP {status}: {answer}"));
    }
    if status != 200 {
        return Ok(());
    }
    let Ok(message) = parse(body) else {
        return Err(format!("200 to a body that is not a message: {answer}"));
    };
    let is_tool_route = path.starts_with("/vapi/tools/");
    if !is_tool_route && message.kind != MessageKind::ToolCalls {
        return Ok(());
    }
    let answer: Value = serde_json::from_str(answer).map_err(|e| format!("not JSON ({e})"))?;
    let results = answer["results"]
        .as_array()
        .ok_or_else(|| format!("no results array: {answer}"))?;
    if results.len() != message.tool_calls.len() {
        return Err(format!(
            "{} results for {} calls: {answer}",
            results.len(),
            message.tool_calls.len()
        ));
    }
    for (result, call) in results.iter().zip(&message.tool_calls) {
        if result["toolCallId"] != call.id.as_str() || !result["name"].is_string() {
            return Err(format!("result out of order or unnamed: {result}"));
        }
        let text = match (result["result"].as_str(), result["error"].as_str()) {
            (Some(t), None) | (None, Some(t)) => t,
            _ => return Err(format!("not exactly one of result and error: {result}")),
        };
        if text.contains('\n') || text.is_empty() {
            return Err(format!("not a single line: {result}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_arbitrary_bodies_never_get_a_5xx_and_every_call_gets_one_result() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F022_u64);
    let app = TestApp::spawn_with(&[("AUDIT_FSYNC", "false")]).await;
    let documented = documented_bodies();
    assert!(documented.len() >= 10, "the documented bodies are there");
    let mut rng = Rng(seed);
    let mut seen = HashSet::new();
    let mut cases = Vec::new();
    while cases.len() < CASES {
        let (path, body) = case(&mut rng, &documented);
        // A signature is accepted once: every request is a different body.
        if seen.insert(body.clone()) {
            cases.push((path, body));
        }
    }
    let mut answered_200 = 0;
    for chunk in cases.chunks(PARALLEL) {
        let sent = chunk.iter().map(|(path, body)| async {
            let resp = app.post_signed(path, body).await;
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap_or_default())
        });
        for ((path, body), (status, answer)) in chunk.iter().zip(futures_join(sent).await) {
            if let Err(why) = judge(path, body, status, &answer) {
                panic!(
                    "FUZZ_SEED={seed}: POST {path} {why}\nbody: {}",
                    String::from_utf8_lossy(body)
                );
            }
            answered_200 += usize::from(status == 200);
        }
    }
    // The generator is not a 400 machine: most bodies still reach the tools.
    assert!(
        answered_200 > CASES / 3,
        "only {answered_200} of {CASES} bodies were answered 200"
    );
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, out) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
