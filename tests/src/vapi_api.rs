//! A fake of Vapi's tool API (`GET /tool`, `POST /tool`, `PATCH /tool/{id}`) for
//! `cargo xtask vapi-sync`: it keeps an organisation's tools in memory, answers only the
//! organisation's bearer key (401 otherwise, as Vapi does), and validates every request body
//! against Vapi's own schemas (`tests/data/vapi-tool-api.schema.json`: `CreateFunctionToolDTO`
//! for a POST, `UpdateFunctionToolDTO` for a PATCH), answering 400 and recording the errors when
//! one does not match. What it lists is checked against Vapi's `FunctionTool` too, so the fake
//! cannot drift from the shape Vapi answers. Like Vapi, it assigns `id`, `orgId`, `createdAt`,
//! `updatedAt` and fills in defaults the client did not send (`function.strict`).

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::any};

/// The organisation's key the fake accepts.
pub const API_KEY: &str = "vapi-private-key-3b9d2e";
const ORG_ID: &str = "7d3c5a1e-0000-4000-8000-00000000a001";
/// Fixed instants: the fake never reads the clock.
const CREATED_AT: &str = "2026-01-05T10:00:00.000Z";
const UPDATED_AT: &str = "2026-01-06T10:00:00.000Z";

#[derive(Default)]
struct State {
    tools: Vec<Value>,
    /// Schema violations and other protocol errors the client made.
    errors: Vec<String>,
    /// Answer every request with this status instead (Vapi failing).
    fail_with: Option<u16>,
    /// Answer every POST and PATCH with this status instead.
    fail_writes_with: Option<u16>,
}

pub struct FakeVapi {
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeVapi {
    /// An organisation with no tools.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State::default()));
        let responder = Responder {
            state: state.clone(),
            create: validator("CreateFunctionToolDTO"),
            update: validator("UpdateFunctionToolDTO"),
            listed: validator("FunctionTool"),
        };
        Mock::given(any())
            .respond_with(responder)
            .mount(&server)
            .await;
        Self { server, state }
    }

    pub fn url(&self) -> String {
        self.server.uri()
    }

    /// The organisation's tools, as `GET /tool` lists them.
    pub fn tools(&self) -> Vec<Value> {
        self.state.lock().unwrap().tools.clone()
    }

    /// The tool named `name` (`function.name`).
    pub fn tool(&self, name: &str) -> Value {
        self.tools()
            .into_iter()
            .find(|t| t["function"]["name"] == name)
            .unwrap_or_else(|| panic!("Vapi holds no tool {name}"))
    }

    /// Changes the organisation's tools behind the client's back (someone in Vapi's dashboard).
    pub fn edit(&self, change: impl FnOnce(&mut Vec<Value>)) {
        change(&mut self.state.lock().unwrap().tools);
    }

    /// From now on every request is answered with `status`.
    pub fn fail_with(&self, status: u16) {
        self.state.lock().unwrap().fail_with = Some(status);
    }

    /// From now on every POST and PATCH is answered with `status` (listing still works).
    pub fn fail_writes_with(&self, status: u16) {
        self.state.lock().unwrap().fail_writes_with = Some(status);
    }

    /// The schema violations and protocol errors seen so far.
    pub fn errors(&self) -> Vec<String> {
        self.state.lock().unwrap().errors.clone()
    }

    /// `METHOD path` of every request received, in order.
    pub async fn requests(&self) -> Vec<String> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| format!("{} {}", r.method, r.url.path()))
            .collect()
    }
}

/// A validator for one of the schemas in the committed copy of Vapi's.
fn validator(name: &str) -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/vapi-tool-api.schema.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the committed copy of Vapi's schemas at {path}: {e}"));
    let mut doc: Value = serde_json::from_str(&text).expect("Vapi's schema copy is JSON");
    strip_pattern_delimiters(&mut doc);
    let schema = json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name} compiles: {e}"))
}

/// Vapi's spec writes some patterns JavaScript-style (`/^[a-zA-Z0-9_-]{1,64}$/`); JSON Schema
/// patterns have no delimiters.
pub fn strip_pattern_delimiters(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "pattern"
                    && let Value::String(p) = child
                    && p.len() > 2
                    && p.starts_with('/')
                    && p.ends_with('/')
                {
                    *p = p[1..p.len() - 1].to_owned();
                } else {
                    strip_pattern_delimiters(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_pattern_delimiters),
        _ => {}
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
    create: jsonschema::Validator,
    update: jsonschema::Validator,
    listed: jsonschema::Validator,
}

fn violations(validator: &jsonschema::Validator, body: &Value) -> Vec<String> {
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"message": message, "error": "Error", "statusCode": status}))
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        if let Some(status) = state.fail_with {
            return error(status, "Something went wrong");
        }
        let auth = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {API_KEY}")) {
            return error(
                401,
                "Invalid Key. Hot tip, you may be using the public key instead of the private key, or vice versa.",
            );
        }
        let method = request.method.as_str();
        let path = request.url.path();
        if let Some(status) = state.fail_writes_with.filter(|_| method != "GET") {
            return error(status, "Something went wrong");
        }
        let mut complain = |what: String| {
            state.errors.push(format!("{method} {path}: {what}"));
        };
        let body = if matches!(method, "POST" | "PATCH") {
            match serde_json::from_slice::<Value>(&request.body) {
                Ok(body) => Some(body),
                Err(e) => {
                    complain(format!("body is not JSON: {e}"));
                    return error(400, "body is not JSON");
                }
            }
        } else {
            None
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, segments.as_slice(), body) {
            ("GET", ["tool"], _) => {
                let tools = state.tools.clone();
                for tool in &tools {
                    for e in violations(&self.listed, tool) {
                        state
                            .errors
                            .push(format!("the fake lists an invalid tool: {e}"));
                    }
                }
                ResponseTemplate::new(200).set_body_json(tools)
            }
            ("POST", ["tool"], Some(body)) => {
                let errors = violations(&self.create, &body);
                if !errors.is_empty() {
                    state
                        .errors
                        .extend(errors.iter().map(|e| format!("POST /tool: {e}")));
                    return error(400, &errors.join("; "));
                }
                let mut tool = body;
                tool["id"] = json!(uuid::Uuid::new_v4().to_string());
                tool["orgId"] = json!(ORG_ID);
                tool["createdAt"] = json!(CREATED_AT);
                tool["updatedAt"] = json!(CREATED_AT);
                if tool["function"].get("strict").is_none() {
                    tool["function"]["strict"] = json!(false);
                }
                state.tools.push(tool.clone());
                ResponseTemplate::new(201).set_body_json(tool)
            }
            ("PATCH", ["tool", id], Some(body)) => {
                let errors = violations(&self.update, &body);
                for key in ["id", "orgId", "createdAt", "updatedAt"] {
                    if body.get(key).is_some() {
                        state
                            .errors
                            .push(format!("PATCH /tool/{id}: read-only field {key} sent"));
                        return error(400, &format!("property {key} should not exist"));
                    }
                }
                if !errors.is_empty() {
                    state
                        .errors
                        .extend(errors.iter().map(|e| format!("PATCH /tool/{id}: {e}")));
                    return error(400, &errors.join("; "));
                }
                let Some(tool) = state.tools.iter_mut().find(|t| t["id"] == *id) else {
                    return error(404, "Tool not found");
                };
                for (key, value) in body.as_object().expect("validated as an object") {
                    tool[key] = value.clone();
                }
                if tool["function"].get("strict").is_none() {
                    tool["function"]["strict"] = json!(false);
                }
                tool["updatedAt"] = json!(UPDATED_AT);
                ResponseTemplate::new(200).set_body_json(tool.clone())
            }
            _ => {
                complain("not an endpoint of Vapi's tool API the sync should use".into());
                error(404, "Cannot handle this route")
            }
        }
    }
}
