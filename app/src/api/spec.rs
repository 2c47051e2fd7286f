//! The OpenAPI document as served and committed: poem-openapi's output, completed with what its
//! derives cannot say — the security schemes the guard enforces, and the envelope variants Vapi
//! really sends (`toolCalls`, `toolWithToolCallList`, flat `{id, name, parameters}` items, and
//! arguments that are not the tool's schema, which are answered with an `error` result rather
//! than refused). The same document validates every Vapi request body ([`Validators`]), so what
//! the spec accepts and what the server accepts are one and the same.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

/// Completes poem-openapi's document.
pub fn complete(doc: &mut Value) {
    security(doc);
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
        }
    }
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
    older["minItems"] = json!(1);
    schema["properties"]["toolCalls"] = older;
    schema["properties"]["toolWithToolCallList"] = json!({
        "description": "The tools with their calls; read when neither toolCallList nor toolCalls is present.",
        "type": "array", "minItems": 1, "maxItems": list["maxItems"].clone(),
        "items": {"type": "object", "required": ["toolCall"], "properties": {"toolCall": call}}
    });
    schema["properties"]["toolCallList"]["minItems"] = json!(1);
    remove_required(schema, "toolCallList");
    let has_calls = json!([
        {"required": ["toolCallList"]},
        {"required": ["toolCalls"]},
        {"required": ["toolWithToolCallList"]}
    ]);
    if webhook {
        // Which fields a message needs depends on its type.
        schema["anyOf"] = json!([
            {"properties": {"type": {"enum": ["tool-calls"]}}, "anyOf": has_calls},
            {"properties": {"type": {"enum": ["function-call"]}}, "required": ["functionCall"]},
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
    schema["anyOf"] = json!([{"required": ["function"]}, {"required": ["name"]}]);
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

    /// `Err` names the first place the body departs from the schema.
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
                    "The request body does not match the {schema} schema at {at}: {err}"
                ))
            }
        }
    }
}
