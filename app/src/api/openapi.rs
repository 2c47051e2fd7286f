//! The OpenAPI document as served and committed, built from the code alone (no application
//! state): poem-openapi's output of the route types ([`service`]), completed with what its derives
//! cannot say — the security schemes the middleware and the Sikka routes enforce, the Sikka ids'
//! schemas, and the envelope variants Vapi really sends (`toolCalls`, `toolWithToolCallList`,
//! flat `{id, name, parameters}` items, and arguments that are not the tool's schema, which are
//! answered with an `error` result rather than refused). The same document validates every
//! request body (`checked::Validators`), so what the spec accepts and what the server accepts are
//! one and the same.
//!
//! Liberal with the envelope, strict with tool arguments: every optional envelope field is
//! `nullable` (Vapi sends `customer: null` on web calls, `phoneNumber: null`, …), and null means
//! the same as absent; an empty call list falls through to the next form. Before validation the
//! envelope's nulls are dropped (`checked::strip_nulls`), which is what `nullable` on an optional
//! field means.

use poem_openapi::OpenApiService;
use serde_json::{Map, Value, json};

use super::{
    admin::AdminApi,
    health::HealthApi,
    messages::MessagesApi,
    practice_health::PracticeHealthApi,
    sikka::{
        CALLBACK_KEY_HEADER, MARKETPLACE_SECRET_HEADER, marketplace::MarketplaceApi,
        webhooks::SikkaWebhooksApi,
    },
    twilio::TwilioApi,
    vapi::{tools::ToolsApi, webhook::WebhookApi},
};

/// The routes' types, as poem-openapi serves and documents them.
pub type Service = OpenApiService<
    (
        ToolsApi,
        WebhookApi,
        HealthApi,
        SikkaWebhooksApi,
        MarketplaceApi,
        AdminApi,
        MessagesApi,
        TwilioApi,
        PracticeHealthApi,
    ),
    (),
>;

/// The API, as poem-openapi knows it (its document is completed by [`document`]).
pub fn service() -> Service {
    OpenApiService::new(
        (
            ToolsApi,
            WebhookApi,
            HealthApi,
            SikkaWebhooksApi,
            MarketplaceApi,
            AdminApi,
            MessagesApi,
            TwilioApi,
            PracticeHealthApi,
        ),
        "Practice gateway",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Answers a Vapi voice receptionist's tool calls for a dental practice: availability, \
         bookings, cancellations and patient records through the practice's management system. \
         Every Vapi route requires the configured authentication (HMAC signature over the body, \
         a secret header, or a bearer token) and answers tool calls with HTTP 200 and a result or \
         an error string per call.",
    )
}

/// The document as served at `/openapi.json` and committed under `openapi/`.
pub fn document() -> String {
    serde_json::to_string_pretty(&document_value()).expect("serialisable") + "\n"
}

/// The document as a JSON value: poem-openapi's, completed.
pub fn document_value() -> Value {
    let mut doc: Value = serde_json::from_str(&service().spec()).expect("poem-openapi emits JSON");
    complete(&mut doc);
    sikka(&mut doc);
    doc
}

/// Completes poem-openapi's document for the Vapi routes.
fn complete(doc: &mut Value) {
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
            "description": "`Authorization: Bearer <secret>` (VAPI_AUTH_MODE=bearer)."},
        "cognito": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "`Authorization: Bearer <access token>`: a Cognito access token of the user pool `COGNITO_ISSUER` and app client `COGNITO_CLIENT_ID`."}
    });
    let security = json!([{"vapiSignature": []}, {"vapiSecret": []}, {"bearer": []}]);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            if path.starts_with("/vapi/")
                && let Some(op) = item.get_mut("post")
            {
                op["security"] = security.clone();
            }
            if path.starts_with("/audit/")
                && let Some(op) = item.get_mut("get")
            {
                op["security"] = json!([{"cognito": []}]);
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

/// Completes the document for the Sikka routes: their security schemes, and the id fields'
/// schemas (a string or a number; poem-openapi only knows them as any JSON value).
fn sikka(doc: &mut Value) {
    // Ids are a string or a number; optional fields may be null (read as absent).
    let id = json!({"anyOf": [{"type": "string"}, {"type": "number"}]});
    let ids: &[(&str, &[&str])] = &[
        ("AuthorizeBody", &["practice_id"]),
        ("DataEvent", &["office_id", "practice_id"]),
        (
            "MarketplaceNotice",
            &["MasterCustomerID", "PartnerRegistrationID", "Order#"],
        ),
    ];
    for (name, id_fields) in ids {
        let schema = &mut doc["components"]["schemas"][*name];
        let required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
        if let Some(props) = schema["properties"].as_object_mut() {
            for (field, prop) in props.iter_mut() {
                if id_fields.contains(&field.as_str()) {
                    let description = prop.get("description").cloned();
                    *prop = id.clone();
                    if let Some(text) = description {
                        prop["description"] = text;
                    }
                }
                if !required.contains(&json!(field)) {
                    prop["nullable"] = json!(true);
                }
            }
        }
    }
    // A registration is keyed by one of its two ids: at least one must be given, not blank.
    let key = json!({"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "number"}]});
    doc["components"]["schemas"]["MarketplaceNotice"]["anyOf"] = json!([
        {"required": ["MasterCustomerID"], "properties": {"MasterCustomerID": key.clone()}},
        {"required": ["PartnerRegistrationID"], "properties": {"PartnerRegistrationID": key}}
    ]);
    let schemes = &mut doc["components"]["securitySchemes"];
    schemes["sikkaCallbackKey"] = json!({"type": "apiKey", "in": "header", "name": CALLBACK_KEY_HEADER,
        "description": "The secret agreed in Sikka's portal for its webhooks (SIKKA_CALLBACK_KEY)."});
    schemes["sikkaMarketplaceSecret"] = json!({"type": "apiKey", "in": "header", "name": MARKETPLACE_SECRET_HEADER,
        "description": "The secret the marketplace notifications are configured to send (SIKKA_MARKETPLACE_SECRET)."});
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let scheme = if path.starts_with("/pms/sikka/webhook/") {
                "sikkaCallbackKey"
            } else if path.starts_with("/pms/sikka/") {
                "sikkaMarketplaceSecret"
            } else {
                continue;
            };
            if let Some(op) = item.get_mut("post") {
                op["security"] = json!([{ scheme: [] }]);
            }
        }
    }
}
