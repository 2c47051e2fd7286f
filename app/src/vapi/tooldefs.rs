//! Vapi tool definitions made from the gateway's own OpenAPI document (VAPI.md §5): one
//! `CreateFunctionToolDTO` per `POST /vapi/tools/...` operation. The model-facing argument schema
//! is dug out of the operation's envelope schema, every `$ref` inlined, and reduced to what
//! Vapi's `JsonSchema` accepts (no `$ref`, `allOf`, `nullable`, numeric bounds or foreign formats;
//! bounds and defaults are moved into the description so the model still knows them).
//!
//! [`export_all`] adds Vapi's own `transferCall` tool (a `CreateTransferCallToolDTO`) with no
//! static destinations: when the model calls it, Vapi sends a `transfer-destination-request` to
//! the assistant's server URL (`POST /vapi/webhook`), which answers the bound practice's front
//! desk number; so the destination is always the practice's, never one written into Vapi.

use serde_json::{Map, Value, json};

/// Where the tools will call, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    /// The gateway's public base URL; each tool's URL is this plus the operation's path.
    pub base_url: String,
    pub timeout_seconds: u32,
    /// The Vapi credential (HMAC, bearer) Vapi signs tool requests with.
    pub credential_id: Option<String>,
}

impl ExportOptions {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout_seconds: 20,
            credential_id: None,
        }
    }
}

/// The path prefix of operations that become Vapi tools.
pub const TOOL_PATH_PREFIX: &str = "/vapi/tools/";
/// The argument the gateway fills from Vapi's call data, never from the model.
pub const CALLER_NUMBER: &str = "caller_number";
/// Formats Vapi's `JsonSchema.format` accepts.
const VAPI_FORMATS: [&str; 9] = [
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("the OpenAPI document has no `paths` object")]
    NoPaths,
    #[error("POST {path} has no operationId, which names the Vapi function")]
    MissingOperationId { path: String },
    #[error(
        "POST {path}: operationId {name:?} is not a Vapi function name (1 to 64 of a-z A-Z 0-9 _ -)"
    )]
    InvalidName { path: String, name: String },
    #[error("operationId {name:?} is used by both POST {first} and POST {second}")]
    DuplicateName {
        name: String,
        first: String,
        second: String,
    },
    #[error("POST {path}: {reason}")]
    Schema { path: String, reason: String },
}

/// One Vapi function-tool definition per `POST /vapi/tools/...` operation, in document order.
pub fn export(openapi: &Value, opts: &ExportOptions) -> Result<Vec<Value>, ExportError> {
    let paths = openapi
        .get("paths")
        .and_then(Value::as_object)
        .ok_or(ExportError::NoPaths)?;
    let base = opts.base_url.trim_end_matches('/');
    let mut seen: Vec<(String, &str)> = Vec::new();
    let mut tools = Vec::new();
    for (path, item) in paths {
        let Some(op) = item
            .get("post")
            .filter(|_| path.starts_with(TOOL_PATH_PREFIX))
        else {
            continue;
        };
        let name = op
            .get("operationId")
            .and_then(Value::as_str)
            .ok_or_else(|| ExportError::MissingOperationId { path: path.clone() })?;
        if !valid_name(name) {
            return Err(ExportError::InvalidName {
                path: path.clone(),
                name: name.to_owned(),
            });
        }
        if let Some((_, first)) = seen.iter().find(|(n, _)| n == name) {
            return Err(ExportError::DuplicateName {
                name: name.to_owned(),
                first: (*first).to_owned(),
                second: path.clone(),
            });
        }
        seen.push((name.to_owned(), path));
        let schema_err = |reason: String| ExportError::Schema {
            path: path.clone(),
            reason,
        };
        let args = argument_schema(openapi, op).map_err(schema_err)?;
        let parameters = function_parameters(openapi, args).map_err(schema_err)?;
        let mut server =
            json!({"url": format!("{base}{path}"), "timeoutSeconds": opts.timeout_seconds});
        if let Some(id) = &opts.credential_id {
            server["credentialId"] = json!(id);
        }
        tools.push(json!({
            "type": "function",
            "async": false,
            "function": {
                "name": name,
                "description": describe(op),
                "parameters": parameters,
            },
            "server": server,
            "messages": [
                {"type": "request-start", "content": "One moment while I check that."},
                {"type": "request-response-delayed", "timingMilliseconds": 3000,
                 "content": "Still working on it, thank you for waiting."},
                {"type": "request-failed", "role": "system",
                 "content": "The tool failed. Tell the caller briefly what went wrong, using the error text if there is one, and offer to take a message or transfer them to the office."},
            ],
            "parameters": [{"key": CALLER_NUMBER, "value": "{{ customer.number }}"}],
        }));
    }
    Ok(tools)
}

/// The path that answers `transfer-destination-request` (the assistant's server URL).
pub const WEBHOOK_PATH: &str = "/vapi/webhook";

/// [`export`]'s function tools, then the `transferCall` tool when the document has the webhook
/// that gives its destination.
pub fn export_all(openapi: &Value, opts: &ExportOptions) -> Result<Vec<Value>, ExportError> {
    let mut tools = export(openapi, opts)?;
    if openapi
        .pointer(&format!("/paths/{}/post", WEBHOOK_PATH.replace('/', "~1")))
        .is_some()
    {
        tools.push(transfer_call_tool());
    }
    Ok(tools)
}

/// Vapi's `transferCall` tool without destinations: the destination comes from the
/// `transfer-destination-request` the webhook answers.
pub fn transfer_call_tool() -> Value {
    json!({
        "type": "transferCall",
        "destinations": [],
        "messages": [
            {"type": "request-start", "content": "Let me connect you to the front desk."},
            {"type": "request-failed",
             "content": "I could not connect you to the front desk right now. I can take a message for the office instead."},
        ],
    })
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `summary`, then `description` in a paragraph of its own.
fn describe(op: &Value) -> String {
    let text = |key: &str| {
        op.get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match (text("summary"), text("description")) {
        (Some(s), Some(d)) if s != d => format!("{s}\n\n{d}"),
        (Some(s), _) => s.to_owned(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => String::new(),
    }
}

/// Follows `requestBody` → `application/json` schema → `message` → `toolCallList` → `items`
/// → `function` → `arguments`, resolving references and `allOf` wrappers at each step.
fn argument_schema<'a>(doc: &'a Value, op: &'a Value) -> Result<&'a Value, String> {
    let body = resolve(doc, op.get("requestBody").ok_or("has no requestBody")?)?;
    let mut schema = body
        .pointer("/content/application~1json/schema")
        .ok_or("has no application/json request schema")?;
    let mut walked = String::from("request body");
    for step in ["message", "toolCallList", "items", "function", "arguments"] {
        let here = unwrap_single_all_of(doc, resolve(doc, schema)?)?;
        let next = if step == "items" {
            here.get("items")
        } else {
            here.get("properties").and_then(|p| p.get(step))
        };
        schema = next.ok_or_else(|| format!("the {walked} schema has no `{step}`"))?;
        walked = format!("{walked} → {step}");
    }
    Ok(schema)
}

/// Follows `$ref`s (to `#/components/...`) until a schema that is not a reference.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..32 {
        let Some(target) = schema.get("$ref").and_then(Value::as_str) else {
            return Ok(schema);
        };
        schema = target
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .ok_or_else(|| format!("$ref {target} does not resolve in this document"))?;
    }
    Err("$ref chain is too long (a loop?)".into())
}

/// `{"allOf": [X]}` (how poem-openapi describes a referenced schema) is X.
fn unwrap_single_all_of<'a>(doc: &'a Value, schema: &'a Value) -> Result<&'a Value, String> {
    match schema.get("allOf").and_then(Value::as_array) {
        Some(parts) if parts.len() == 1 && schema.get("properties").is_none() => {
            unwrap_single_all_of(doc, resolve(doc, &parts[0])?)
        }
        _ => Ok(schema),
    }
}

/// The top-level function parameters: an object schema without `caller_number`.
fn function_parameters(doc: &Value, args: &Value) -> Result<Value, String> {
    let mut inliner = Inliner {
        doc,
        refs: Vec::new(),
    };
    let mut schema = inliner.inline(args, "arguments")?;
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err("the arguments schema is not an object".into());
    }
    let obj = schema
        .as_object_mut()
        .expect("an object schema is a JSON object");
    if let Some(props) = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        props.remove(CALLER_NUMBER);
    }
    if let Some(required) = obj.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r != CALLER_NUMBER);
        if required.is_empty() {
            obj.remove("required");
        }
    }
    Ok(schema)
}

/// Converts schemas to Vapi's `JsonSchema`: references inlined, `allOf` merged, nullable
/// `anyOf`/`oneOf` unwrapped, unsupported keys dropped (bounds moved into the description).
struct Inliner<'a> {
    doc: &'a Value,
    /// The references being inlined, to refuse recursive schemas.
    refs: Vec<String>,
}

impl Inliner<'_> {
    fn inline(&mut self, schema: &Value, at: &str) -> Result<Value, String> {
        let doc = self.doc;
        if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
            if self.refs.iter().any(|r| r == target) {
                return Err(format!("{at}: recursive schema {target} cannot be inlined"));
            }
            self.refs.push(target.to_owned());
            let resolved = resolve(doc, schema).and_then(|s| self.inline(s, at));
            self.refs.pop();
            let mut resolved = resolved?;
            // Keys beside a $ref (OpenAPI 3.1) describe this use of the schema.
            self.overlay(&mut resolved, schema, at)?;
            return Ok(resolved);
        }
        let mut merged = Map::new();
        for key in ["allOf", "anyOf", "oneOf"] {
            let Some(parts) = schema.get(key).and_then(Value::as_array) else {
                continue;
            };
            // `{}` (anything) beside a real schema documents tolerance, not a second shape.
            let parts: Vec<&Value> = parts
                .iter()
                .filter(|p| !is_null_schema(p) && !p.as_object().is_some_and(Map::is_empty))
                .collect();
            if key != "allOf" && parts.len() > 1 {
                return Err(format!(
                    "{at}: {key} with several alternatives cannot be expressed in Vapi's JsonSchema"
                ));
            }
            for part in parts {
                // poem-openapi writes a described `$ref` as `allOf: [{$ref}, {description}]`;
                // the description is applied with this schema's own keywords below.
                if is_annotation_only(part) {
                    continue;
                }
                let part = self.inline(part, at)?;
                merge(&mut merged, part);
            }
        }
        let mut out = Value::Object(merged);
        self.overlay(&mut out, schema, at)?;
        Ok(out)
    }

    /// Applies this schema's own keywords over `out` (which holds what `$ref`/`allOf` gave).
    fn overlay(&mut self, out: &mut Value, schema: &Value, at: &str) -> Result<(), String> {
        let Some(src) = schema.as_object() else {
            return Err(format!("{at}: schema is not an object"));
        };
        let out = out.as_object_mut().expect("schemas are built as objects");
        match src.get("type") {
            Some(Value::Array(types)) => {
                if let Some(t) = types.iter().find(|t| *t != "null") {
                    out.insert("type".into(), t.clone());
                }
            }
            Some(Value::String(t)) if t != "null" => {
                out.insert("type".into(), json!(t));
            }
            _ => {}
        }
        for key in ["title", "description", "pattern"] {
            if let Some(text) = src.get(key).and_then(Value::as_str) {
                out.insert(key.into(), json!(text));
            }
        }
        if let Some(format) = src.get("format").and_then(Value::as_str) {
            if VAPI_FORMATS.contains(&format) {
                out.insert("format".into(), json!(format));
            } else {
                out.remove("format");
            }
        }
        let values = src
            .get("enum")
            .cloned()
            .or_else(|| src.get("const").map(|c| json!([c])));
        if let Some(Value::Array(values)) = values {
            let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
            if values.iter().all(Value::is_string) {
                out.insert("enum".into(), Value::Array(values));
            } else {
                let list: Vec<String> = values.iter().map(Value::to_string).collect();
                append_hint(out, &format!("One of {}.", list.join(", ")));
            }
        }
        if let Some(required) = src.get("required").and_then(Value::as_array) {
            merge(out, json!({"required": required}));
        }
        if let Some(items) = src.get("items") {
            let items = self.inline(items, &format!("{at}[]"))?;
            out.insert("items".into(), items);
        }
        if let Some(props) = src.get("properties").and_then(Value::as_object) {
            let mut converted = Map::new();
            for (name, prop) in props {
                converted.insert(name.clone(), self.inline(prop, &format!("{at}.{name}"))?);
            }
            merge(out, json!({"properties": converted}));
        }
        let hint = bounds_hint(src);
        if !hint.is_empty() {
            append_hint(out, &hint);
        }
        if !out.contains_key("type") {
            let inferred = if out.contains_key("properties") {
                "object"
            } else if out.contains_key("items") {
                "array"
            } else if out.contains_key("enum") {
                "string"
            } else {
                return Err(format!("{at}: schema has no type"));
            };
            out.insert("type".into(), json!(inferred));
        }
        Ok(())
    }
}

/// A schema of only annotations (`description`, `title`, `example`…): it constrains nothing.
fn is_annotation_only(schema: &Value) -> bool {
    schema.as_object().is_some_and(|o| {
        o.keys().all(|k| {
            matches!(
                k.as_str(),
                "description" | "title" | "example" | "examples" | "default" | "deprecated"
            )
        })
    })
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("enum").is_some_and(|e| e == &json!([null]))
}

/// `allOf` semantics for the parts Vapi knows: properties and required lists are united,
/// other keys are taken from the first part that has them.
fn merge(into: &mut Map<String, Value>, part: Value) {
    let Value::Object(part) = part else { return };
    for (key, value) in part {
        match (key.as_str(), into.get_mut(&key), value) {
            ("properties", Some(Value::Object(have)), Value::Object(add)) => have.extend(add),
            ("required", Some(Value::Array(have)), Value::Array(add)) => {
                for r in add {
                    if !have.contains(&r) {
                        have.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                into.insert(key, value);
            }
        }
    }
}

/// Bounds and defaults Vapi's `JsonSchema` cannot carry, as a sentence for the description.
fn bounds_hint(src: &Map<String, Value>) -> String {
    let rules = [
        ("minimum", "minimum {}"),
        ("exclusiveMinimum", "greater than {}"),
        ("maximum", "maximum {}"),
        ("exclusiveMaximum", "less than {}"),
        ("minLength", "at least {} characters"),
        ("maxLength", "at most {} characters"),
        ("minItems", "at least {} items"),
        ("maxItems", "at most {} items"),
        ("default", "default {}"),
    ];
    let parts: Vec<String> = rules
        .iter()
        .filter_map(|(key, words)| match src.get(*key) {
            // OpenAPI 3.0 writes `exclusiveMinimum: true` beside `minimum`.
            Some(Value::Bool(_)) | None => None,
            Some(value) => Some(words.replace("{}", &value.to_string())),
        })
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    let mut sentence = parts.join(", ");
    sentence[..1].make_ascii_uppercase();
    sentence.push('.');
    sentence
}

fn append_hint(out: &mut Map<String, Value>, hint: &str) {
    let text = match out.get("description").and_then(Value::as_str) {
        Some(d) if !d.trim().is_empty() => {
            let d = d.trim_end();
            let stop = if d.ends_with(['.', '!', '?']) {
                ""
            } else {
                "."
            };
            format!("{d}{stop} {hint}")
        }
        _ => hint.to_owned(),
    };
    out.insert("description".into(), Value::String(text));
}

#[cfg(test)]
#[path = "tooldefs_tests.rs"]
mod tests;
