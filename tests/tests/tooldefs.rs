//! The Vapi tool definitions made from the OpenAPI document: one per tool, each valid against
//! Vapi's own `CreateFunctionToolDTO` schema, with the caller's number passed as a static
//! parameter the model never sees; Vapi's own `transferCall` tool valid against its
//! `CreateTransferCallToolDTO`, its destination left to the webhook; and the committed
//! `openapi/openapi.json` is what the gateway generates today.

use std::process::Command;

use gateway_tests::gateway_bin;
use serde_json::Value;

const TOOLS: [&str; 12] = [
    "check_availability",
    "book_appointment",
    "cancel_appointment",
    "reschedule_appointment",
    "get_appointments",
    "search_patients",
    "get_patient_info",
    "create_patient",
    "update_patient",
    "list_providers",
    "transfer_to_human",
    "take_message",
];

fn vapi_schema_verbatim() -> Value {
    schema_copy("vapi-create-function-tool.schema.json")
}

fn schema_copy(name: &str) -> Value {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the committed copy of Vapi's schema at {path}: {e}"));
    serde_json::from_str(&text).expect("Vapi's schema copy is JSON")
}

/// Vapi's spec writes some patterns JavaScript-style (`/^[a-zA-Z0-9_-]{1,64}$/`); JSON Schema
/// patterns have no delimiters, so they are stripped before validating.
fn vapi_schema() -> Value {
    without_delimiters(vapi_schema_verbatim())
}

fn without_delimiters(mut schema: Value) -> Value {
    gateway_tests::vapi_api::strip_pattern_delimiters(&mut schema);
    schema
}

fn export(base_url: &str) -> Vec<Value> {
    let out = Command::new(gateway_bin())
        .args(["vapi-tools", "--base-url", base_url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_definition_is_valid_for_vapi() {
    let validator = jsonschema::validator_for(&vapi_schema()).expect("Vapi's schema compiles");
    let tools: Vec<Value> = export("https://gw.example.com/")
        .into_iter()
        .filter(|t| t["type"] == "function")
        .collect();
    let names: Vec<&str> = tools
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    for tool in TOOLS {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    for def in &tools {
        let errors: Vec<String> = validator
            .iter_errors(def)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {errors:#?}",
            def["function"]["name"]
        );
        let name = def["function"]["name"].as_str().unwrap();
        assert_eq!(
            def["server"]["url"],
            format!("https://gw.example.com/vapi/tools/{name}")
        );
        assert!(def["function"]["description"].as_str().unwrap().len() > 20);
        let params = &def["function"]["parameters"];
        assert_eq!(params["type"], "object");
        assert!(
            params["properties"].get("caller_number").is_none(),
            "{name}: the model must not see caller_number"
        );
        assert!(
            !params.to_string().contains("$ref"),
            "{name}: Vapi takes no $ref"
        );
        assert!(
            def["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["key"] == "caller_number" && p["value"] == "{{ customer.number }}")
        );
    }
    let book = tools
        .iter()
        .find(|t| t["function"]["name"] == "book_appointment")
        .unwrap();
    let required: Vec<&str> = book["function"]["parameters"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        required.contains(&"date") && required.contains(&"time"),
        "{required:?}"
    );
    assert!(
        book["function"]["parameters"]["properties"]["date"]["description"]
            .as_str()
            .unwrap()
            .contains("YYYY-MM-DD")
    );
}

/// Vapi's `transferCall` tool, without static destinations: Vapi then asks the assistant's server
/// URL (`POST /vapi/webhook`) with a `transfer-destination-request`, which the gateway answers
/// with the bound practice's front desk (`tests/tests/envelope.rs`).
#[test]
fn the_transfer_call_tool_is_valid_for_vapi_and_its_destination_comes_from_the_webhook() {
    let validator = jsonschema::validator_for(&without_delimiters(schema_copy(
        "vapi-create-transfer-call-tool.schema.json",
    )))
    .expect("Vapi's schema compiles");
    let transfers: Vec<Value> = export("https://gw.example.com")
        .into_iter()
        .filter(|t| t["type"] != "function")
        .collect();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    let tool = &transfers[0];
    assert_eq!(tool["type"], "transferCall");
    assert_eq!(tool["destinations"], serde_json::json!([]));
    let errors: Vec<String> = validator
        .iter_errors(tool)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut wrong = tool.clone();
    wrong["destinations"] = serde_json::json!([{"type": "number"}]);
    assert!(
        !validator.is_valid(&wrong),
        "a number destination needs its number"
    );
}

#[test]
fn a_definition_with_a_wrong_type_and_message_is_rejected_by_the_schema() {
    // The validator is not a rubber stamp.
    let validator = jsonschema::validator_for(&vapi_schema()).unwrap();
    let mut def = export("https://gw.example.com").remove(0);
    def["type"] = Value::String("not-a-type".into());
    def["messages"] = serde_json::json!([{"type": "request-start", "content": 5}]);
    assert!(!validator.is_valid(&def));
}

#[test]
fn the_committed_documents_are_current() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let committed = std::fs::read_to_string(format!("{root}/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed");
    let out = Command::new(gateway_bin()).arg("openapi").output().unwrap();
    assert_eq!(
        committed,
        String::from_utf8(out.stdout).unwrap(),
        "run `cargo xtask openapi`"
    );
}
