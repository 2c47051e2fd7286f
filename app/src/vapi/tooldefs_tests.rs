//! Tests of the tool-definition export on a hand-written OpenAPI fragment shaped like the one
//! poem-openapi emits for the gateway's generic tool-call envelope, plus a light structural
//! check against Vapi's own `CreateFunctionToolDTO` (the repository's copy,
//! `tests/data/vapi-create-function-tool.schema.json`).

use super::*;

/// `ToolCalls<BookArgs>` as poem-openapi would describe it.
fn document() -> Value {
    json!({
        "openapi": "3.0.0",
        "paths": {
            "/vapi/tools/book-appointment": {"post": {
                "operationId": "book_appointment",
                "summary": "Book an appointment",
                "description": "Books the slot the caller chose, once verified.",
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ToolCalls_BookArgs"}}}},
                "responses": {"200": {"description": "results"}}
            }},
            "/vapi/tools/status": {"get": {"operationId": "tool_status"}},
            "/admin/practices": {"post": {"operationId": "create_practice"}}
        },
        "components": {"schemas": {
            "ToolCalls_BookArgs": {"type": "object", "required": ["message"], "properties": {
                "message": {"$ref": "#/components/schemas/ToolCallsMessage_BookArgs"}}},
            "ToolCallsMessage_BookArgs": {"type": "object", "properties": {
                "type": {"type": "string"},
                "toolCallList": {"type": "array",
                    "items": {"$ref": "#/components/schemas/ToolCall_BookArgs"}}}},
            "ToolCall_BookArgs": {"type": "object", "properties": {
                "id": {"type": "string"},
                "function": {"allOf": [{"$ref": "#/components/schemas/FunctionCall_BookArgs"}],
                             "description": "What the model called."}}},
            "FunctionCall_BookArgs": {"type": "object", "properties": {
                "name": {"type": "string"},
                "arguments": {"$ref": "#/components/schemas/BookArgs"}}},
            "BookArgs": {"type": "object",
                "required": ["date", "visit", "party_size", "caller_number"],
                "properties": {
                    "date": {"type": "string", "format": "date", "description": "Day of the visit"},
                    "visit": {"$ref": "#/components/schemas/VisitKind"},
                    "party_size": {"type": "integer", "format": "int32", "minimum": 1, "maximum": 4,
                                   "description": "How many people"},
                    "caller_number": {"type": "string"},
                    "patient": {"allOf": [{"$ref": "#/components/schemas/PatientName"}],
                                "description": "Who the visit is for."},
                    "notes": {"type": "string", "nullable": true, "maxLength": 200},
                    "slots": {"type": "array", "items": {"type": "string", "format": "date-time"}}
                }},
            "VisitKind": {"type": "string", "enum": ["cleaning", "exam", "emergency"],
                          "description": "Kind of visit"},
            "PatientName": {"type": "object", "required": ["first"], "properties": {
                "first": {"type": "string"}, "last": {"type": "string", "format": "name"}}}
        }}
    })
}

fn export_one(doc: &Value) -> Value {
    let opts = ExportOptions {
        credential_id: Some("cred-1".into()),
        ..ExportOptions::new("https://gw.example.com/")
    };
    let mut tools = export(doc, &opts).expect("exports");
    assert_eq!(tools.len(), 1, "only POST /vapi/tools/* become tools");
    tools.remove(0)
}

#[test]
fn each_tool_operation_becomes_a_vapi_function_tool() {
    let tool = export_one(&document());
    assert_eq!(tool["type"], "function");
    assert_eq!(tool["async"], false);
    assert_eq!(tool["function"]["name"], "book_appointment");
    assert_eq!(
        tool["function"]["description"],
        "Book an appointment\n\nBooks the slot the caller chose, once verified."
    );
    assert_eq!(
        tool["server"],
        json!({"url": "https://gw.example.com/vapi/tools/book-appointment",
               "timeoutSeconds": 20, "credentialId": "cred-1"})
    );
    assert_eq!(
        tool["parameters"],
        json!([{"key": "caller_number", "value": "{{ customer.number }}"}])
    );
    let kinds: Vec<&str> = tool["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "request-start",
            "request-response-delayed",
            "request-failed"
        ]
    );
    assert_eq!(tool["messages"][1]["timingMilliseconds"], 3000);
}

#[test]
fn the_argument_schema_is_inlined_and_reduced_to_what_vapi_accepts() {
    let tool = export_one(&document());
    let params = &tool["function"]["parameters"];
    assert_eq!(params["type"], "object");
    assert_eq!(params["required"], json!(["date", "visit", "party_size"]));
    let props = &params["properties"];
    assert!(props.get("caller_number").is_none(), "Vapi supplies it");
    assert_eq!(
        props["date"],
        json!({"type": "string", "format": "date", "description": "Day of the visit"})
    );
    assert_eq!(
        props["visit"],
        json!({"type": "string", "enum": ["cleaning", "exam", "emergency"],
               "description": "Kind of visit"})
    );
    assert_eq!(
        props["party_size"],
        json!({"type": "integer", "description": "How many people. Minimum 1, maximum 4."})
    );
    assert_eq!(
        props["patient"],
        json!({"type": "object", "required": ["first"], "description": "Who the visit is for.",
               "properties": {"first": {"type": "string"}, "last": {"type": "string"}}})
    );
    assert_eq!(
        props["notes"],
        json!({"type": "string", "description": "At most 200 characters."})
    );
    assert_eq!(
        props["slots"],
        json!({"type": "array", "items": {"type": "string", "format": "date-time"}})
    );
    assert!(!params.to_string().contains("$ref"));
    assert!(!params.to_string().contains("allOf"));
}

#[test]
fn nullable_alternatives_and_31_type_lists_are_unwrapped() {
    let mut doc = document();
    doc["components"]["schemas"]["BookArgs"]["properties"]["notes"] =
        json!({"anyOf": [{"$ref": "#/components/schemas/VisitKind"}, {"type": "null"}]});
    doc["components"]["schemas"]["BookArgs"]["properties"]["slots"] =
        json!({"type": ["integer", "null"], "enum": [1, 2, null]});
    let tool = export_one(&doc);
    let props = &tool["function"]["parameters"]["properties"];
    assert_eq!(
        props["notes"]["enum"],
        json!(["cleaning", "exam", "emergency"])
    );
    assert_eq!(
        props["slots"],
        json!({"type": "integer", "description": "One of 1, 2."})
    );
}

#[test]
fn bad_names_missing_schemas_and_recursion_are_errors() {
    let mut doc = document();
    doc["paths"]["/vapi/tools/book-appointment"]["post"]["operationId"] = json!("book appointment");
    let err = export(&doc, &ExportOptions::new("https://gw")).unwrap_err();
    assert!(matches!(err, ExportError::InvalidName { .. }), "{err}");
    doc["paths"]["/vapi/tools/book-appointment"]["post"]["operationId"] = json!("x".repeat(65));
    assert!(export(&doc, &ExportOptions::new("https://gw")).is_err());

    let mut doc = document();
    doc["components"]["schemas"]["FunctionCall_BookArgs"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("arguments");
    let err = export(&doc, &ExportOptions::new("https://gw")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "POST /vapi/tools/book-appointment: the request body → message → toolCallList → items → function schema has no `arguments`"
    );

    let mut doc = document();
    doc["components"]["schemas"]["PatientName"]["properties"]["guardian"] =
        json!({"$ref": "#/components/schemas/PatientName"});
    let err = export(&doc, &ExportOptions::new("https://gw")).unwrap_err();
    assert!(err.to_string().contains("recursive schema"), "{err}");

    let mut doc = document();
    doc["paths"]["/vapi/tools/book-again"] = doc["paths"]["/vapi/tools/book-appointment"].clone();
    let err = export(&doc, &ExportOptions::new("https://gw")).unwrap_err();
    assert!(matches!(err, ExportError::DuplicateName { .. }), "{err}");
}

/// Checks `value` against a schema of Vapi's spec: declared properties only (Vapi's API rejects
/// unknown keys), required keys, types, enums and numeric bounds, through `$ref`/`allOf`/`oneOf`.
fn conforms(spec: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = spec
            .pointer(&target[1..])
            .ok_or(format!("{at}: no {target}"))?;
        return conforms(spec, resolved, value, at);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            conforms(spec, part, value, at)?;
        }
    }
    if let Some(parts) = schema.get("oneOf").and_then(Value::as_array) {
        let errors: Vec<String> = parts
            .iter()
            .filter_map(|p| conforms(spec, p, value, at).err())
            .collect();
        if errors.len() == parts.len() {
            return Err(format!("{at}: matches no alternative: {errors:?}"));
        }
    }
    let type_ok = match schema.get("type").and_then(Value::as_str) {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        _ => true,
    };
    if !type_ok {
        return Err(format!("{at}: {value} is not a {}", schema["type"]));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let (Some(max), Some(n)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n > max
    {
        return Err(format!("{at}: {n} is above {max}"));
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n < min
    {
        return Err(format!("{at}: {n} is below {min}"));
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            conforms(spec, items, item, &format!("{at}[{i}]"))?;
        }
    }
    let Some(object) = value.as_object() else {
        return Ok(());
    };
    for required in schema["required"].as_array().into_iter().flatten() {
        let key = required.as_str().unwrap_or_default();
        if !object.contains_key(key) {
            return Err(format!("{at}: missing required {key}"));
        }
    }
    let declared = schema.get("properties").and_then(Value::as_object);
    for (key, field) in object {
        let path = format!("{at}.{key}");
        match (
            declared.and_then(|d| d.get(key)),
            schema.get("additionalProperties"),
        ) {
            (Some(field_schema), _) => conforms(spec, field_schema, field, &path)?,
            (None, Some(extra)) if extra.is_object() => conforms(spec, extra, field, &path)?,
            (None, _) if declared.is_some() => {
                return Err(format!("{path} is not in Vapi's schema"));
            }
            (None, _) => {}
        }
    }
    Ok(())
}

#[test]
fn exported_tools_conform_to_vapis_create_function_tool_dto() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/vapi-create-function-tool.schema.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the committed copy of Vapi's schema at {path}: {e}"));
    let spec: Value = serde_json::from_str(&text).expect("Vapi's spec is JSON");
    let dto = &spec["components"]["schemas"]["CreateFunctionToolDTO"];
    assert!(dto.is_object(), "CreateFunctionToolDTO is in the spec");
    let tool = export_one(&document());
    conforms(&spec, dto, &tool, "tool").unwrap();

    // The checker itself notices what Vapi would refuse.
    let mut bad = tool.clone();
    bad["function"]["parameters"]["properties"]["party_size"]["minimum"] = json!(1);
    assert!(conforms(&spec, dto, &bad, "tool").is_err());
    let mut bad = tool;
    bad["function"]["parameters"]["properties"]["date"]["format"] = json!("int32");
    assert!(conforms(&spec, dto, &bad, "tool").is_err());
}
