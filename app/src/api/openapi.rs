//! The OpenAPI document as served and committed: poem-openapi's output, completed with what its
//! derives cannot say — the security schemes the guard enforces, and the envelope variants Vapi
//! really sends (`toolCalls`, `toolWithToolCallList`, flat `{id, name, parameters}` items, and
//! arguments that are not the tool's schema, which are answered with an `error` result rather
//! than refused). The same document validates every Vapi request body ([`Validators`]), so what
//! the spec accepts and what the server accepts are one and the same.
//!
//! Liberal with the envelope, strict with tool arguments: every optional envelope field is
//! `nullable` (Vapi sends `customer: null` on web calls, `phoneNumber: null`, …), and null means
//! the same as absent; an empty call list falls through to the next form. Before validation the
//! envelope's nulls are dropped ([`strip_nulls`]), which is what `nullable` on an optional field
//! means.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// Completes poem-openapi's document.
pub fn complete(doc: &mut Value) {
    security(doc);
    let envelope = envelope_schemas(doc);
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for (name, schema) in schemas.iter_mut() {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                continue;
            };
            if props.contains_key("toolCallList") {
                message_variants(schema, name == "ServerMessageObject");
            } else if props.contains_key("function") && props.contains_key("id") {
                flat_call_items(schema);
            } else if props.contains_key("arguments") && props.contains_key("name") {
                loose_arguments(schema);
            }
            if envelope.contains(name) {
                nullable_optionals(schema);
            }
        }
    }
}

/// The schemas of the Vapi envelope: everything the `/vapi/*` request bodies reach, except the
/// tools' arguments (which stay as strict as the tool needs).
fn envelope_schemas(doc: &Value) -> std::collections::HashSet<String> {
    let schemas = &doc["components"]["schemas"];
    let mut todo: Vec<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.iter())
        .filter(|(path, _)| path.starts_with("/vapi/"))
        .filter_map(|(_, item)| {
            item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        })
        .map(|r| r.rsplit('/').next().unwrap_or_default().to_owned())
        .collect();
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut props = schemas[&name]["properties"].clone();
        if let Some(props) = props.as_object_mut() {
            props.remove("arguments");
            props.remove("parameters");
            collect_refs(&Value::Object(props.clone()), &mut todo);
        }
    }
    seen
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                into.push(r.rsplit('/').next().unwrap_or_default().to_owned());
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

/// Every property not `required` may be `null`, meaning absent. A `$ref` cannot carry siblings
/// in OpenAPI 3.0, so it is wrapped in `allOf`.
fn nullable_optionals(schema: &mut Value) {
    let required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        if required.iter().any(|r| r == name) || name == "arguments" || name == "parameters" {
            continue;
        }
        if let Some(reference) = prop.get("$ref").cloned() {
            *prop = json!({"allOf": [{"$ref": reference}], "nullable": true});
        } else if let Some(obj) = prop.as_object_mut() {
            obj.insert("nullable".into(), json!(true));
        }
    }
}

/// A branch of `anyOf` that holds when `field` is present and not null (an array field: and
/// not empty), so that null, `[]` and absence all mean the same.
fn present(field: &str, array: bool) -> Value {
    let shape = if array {
        json!({"type": "array", "minItems": 1})
    } else {
        json!({"not": {"type": "null"}})
    };
    json!({"required": [field], "properties": {field: shape}})
}

fn security(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "vapiSignature": {"type": "apiKey", "in": "header", "name": "x-signature",
            "description": "HMAC of `{timestamp}.{body}` with the shared secret (hex), with the time in `x-timestamp`. Algorithm, headers, payload format and encoding are configurable (VAPI_* settings)."},
        "vapiSecret": {"type": "apiKey", "in": "header", "name": "x-vapi-secret",
            "description": "The shared secret, sent verbatim (VAPI_AUTH_MODE=secret)."},
        "bearer": {"type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer <secret>` (VAPI_AUTH_MODE=bearer)."}
    });
    let security = json!([{"vapiSignature": []}, {"vapiSecret": []}, {"bearer": []}]);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            if path.starts_with("/vapi/")
                && let Some(op) = item.get_mut("post")
            {
                op["security"] = security.clone();
            }
        }
    }
}

fn remove_required(schema: &mut Value, field: &str) {
    if let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| r != field);
    }
}

/// The calls may come as `toolCallList` (current), `toolCalls` (older) or only inside
/// `toolWithToolCallList[].toolCall`; a `tool-calls` message needs at least one of them.
fn message_variants(schema: &mut Value, webhook: bool) {
    let list = schema["properties"]["toolCallList"].clone();
    let call = list["items"].clone();
    let mut older = list.clone();
    older["description"] = json!("Older payloads: the calls, as in toolCallList.");
    if let Some(o) = older.as_object_mut() {
        o.remove("minItems");
    }
    schema["properties"]["toolCalls"] = older;
    schema["properties"]["toolWithToolCallList"] = json!({
        "description": "The tools with their calls; read when neither toolCallList nor toolCalls holds a call.",
        "type": "array", "maxItems": list["maxItems"].clone(),
        "items": {"type": "object", "required": ["toolCall"], "properties": {"toolCall": call}}
    });
    if let Some(o) = schema["properties"]["toolCallList"].as_object_mut() {
        // An empty list falls through to the next form.
        o.remove("minItems");
    }
    remove_required(schema, "toolCallList");
    let has_calls = json!([
        present("toolCallList", true),
        present("toolCalls", true),
        present("toolWithToolCallList", true)
    ]);
    if webhook {
        // Which fields a message needs depends on its type.
        schema["anyOf"] = json!([
            {"properties": {"type": {"enum": ["tool-calls"]}}, "anyOf": has_calls},
            {"properties": {"type": {"enum": ["function-call"]}}, "allOf": [present("functionCall", false)]},
            {"properties": {"type": {"not": {"enum": ["tool-calls", "function-call"]}}}}
        ]);
    } else {
        schema["anyOf"] = has_calls;
    }
}

/// Calls may also be flat: `{id, name, parameters}`.
fn flat_call_items(schema: &mut Value) {
    schema["properties"]["name"] = json!({"type": "string", "maxLength": 64, "description": "Flat items: the function's name."});
    schema["properties"]["parameters"] = json!({"description": "Flat items: the arguments."});
    remove_required(schema, "function");
    schema["anyOf"] = json!([present("function", false), present("name", false)]);
}

/// The documented arguments are what the tool understands; anything else (JSON text, a wrong
/// type) still gets HTTP 200, with an `error` result saying what was wrong.
fn loose_arguments(schema: &mut Value) {
    let arguments = schema["properties"]["arguments"].take();
    schema["properties"]["arguments"] = if arguments.as_object().is_some_and(Map::is_empty) {
        arguments
    } else {
        json!({"anyOf": [arguments, {}]})
    };
    schema["properties"]["parameters"] =
        json!({"description": "Some payloads: the arguments under this name."});
    remove_required(schema, "arguments");
}

/// Null means absent in the envelope: every `null` member of an object is dropped before the
/// body is validated (OpenAPI 3.0's `nullable` is not JSON Schema; the validator ignores it), so a
/// required field sent as null is still missing. Tool arguments are left as they were sent.
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for (key, v) in map.iter_mut() {
                if key != "arguments" && key != "parameters" {
                    strip_nulls(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// One compiled JSON Schema per Vapi request body, by schema name.
pub struct Validators {
    by_schema: HashMap<String, jsonschema::Validator>,
}

impl Validators {
    pub fn new(doc: &Value) -> Self {
        let mut by_schema = HashMap::new();
        let components = json!({"schemas": doc["components"]["schemas"].clone()});
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            let Some(reference) =
                item["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
            else {
                continue;
            };
            let name = reference.rsplit('/').next().unwrap_or_default().to_owned();
            let schema = json!({"$ref": reference, "components": components});
            let validator =
                jsonschema::validator_for(&schema).expect("the gateway's own schemas compile");
            by_schema.insert(name, validator);
        }
        Self { by_schema }
    }

    /// `Err` names the first place the body departs from the schema and what it expects there,
    /// never the value sent (it may be a patient's name or a secret).
    pub fn check(&self, schema: &str, body: &Value) -> Result<(), String> {
        let Some(validator) = self.by_schema.get(schema) else {
            return Ok(());
        };
        // The common case costs a plain check; errors are gathered only for a refusal.
        if validator.is_valid(body) {
            return Ok(());
        }
        match validator.iter_errors(body).next() {
            None => Ok(()),
            Some(err) => {
                let at = err.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                Err(format!(
                    "The request body does not match the {schema} schema at {at}: {}",
                    err.masked_with("the value")
                ))
            }
        }
    }
}
