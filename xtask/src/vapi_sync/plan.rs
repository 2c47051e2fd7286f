//! What `cargo xtask vapi-sync` has to do, worked out without touching the network: each tool of
//! the spec (the gateway's exported definitions) matched by `function.name` with the tools Vapi
//! lists, and compared field by field.
//!
//! Comparing normalises both sides: Vapi's server-assigned fields (`id`, `orgId`, `createdAt`,
//! `updatedAt`, `latestVersion`) are never compared, and only what the spec sets is: a key Vapi
//! adds on its side (a default it fills in, `function.strict`, …) does not count as a difference,
//! and numbers compare by value (`20` and `20.0`). So a tool synced once is reported unchanged.

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

/// What to do with one tool of the spec.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Not in Vapi: `POST /tool` with this body.
    Create {
        name: String,
        body: Value,
    },
    /// In Vapi and different: `PATCH /tool/{id}` with the differing top-level fields.
    Update {
        name: String,
        id: String,
        /// The differing fields, as dotted paths (`function.description`, `server.url`).
        fields: Vec<String>,
        body: Value,
    },
    Unchanged {
        name: String,
    },
    /// A tool of another type than `function` (a `transferCall` tool…): it has no function name
    /// to match it by, so it is not synced; the report says so.
    Skipped {
        kind: String,
    },
}

/// The function name a tool is matched by.
pub fn function_name(tool: &Value) -> Option<&str> {
    tool.pointer("/function/name").and_then(Value::as_str)
}

/// One action per tool of `spec`, in its order. `existing` is Vapi's `GET /tool` answer; its
/// tools that the spec does not name are left alone.
pub fn plan(spec: &[Value], existing: &[Value]) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    for tool in spec {
        let Some(name) = function_name(tool) else {
            let kind = tool
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("untyped");
            actions.push(Action::Skipped {
                kind: kind.to_owned(),
            });
            continue;
        };
        let matches: Vec<&Value> = existing
            .iter()
            .filter(|t| function_name(t) == Some(name))
            .collect();
        let found = match matches.as_slice() {
            [] => {
                actions.push(Action::Create {
                    name: name.to_owned(),
                    body: tool.clone(),
                });
                continue;
            }
            [one] => *one,
            many => {
                let ids: Vec<&str> = many
                    .iter()
                    .map(|t| t.get("id").and_then(Value::as_str).unwrap_or("?"))
                    .collect();
                bail!(
                    "Vapi holds {} tools named {name} (ids {}): delete the extra ones in Vapi, \
                     then sync again",
                    many.len(),
                    ids.join(", ")
                );
            }
        };
        let Some(id) = found.get("id").and_then(Value::as_str) else {
            bail!("Vapi's tool {name} has no id");
        };
        if found.get("type") != tool.get("type") {
            bail!(
                "Vapi's tool {name} (id {id}) is of type {}, the spec's of type {} (a tool's type \
                 cannot be changed): delete it in Vapi, then sync again",
                found.get("type").unwrap_or(&Value::Null),
                tool.get("type").unwrap_or(&Value::Null)
            );
        }
        let (fields, body) = differences(tool, found);
        actions.push(if fields.is_empty() {
            Action::Unchanged {
                name: name.to_owned(),
            }
        } else {
            Action::Update {
                name: name.to_owned(),
                id: id.to_owned(),
                fields,
                body,
            }
        });
    }
    Ok(actions)
}

/// The differing fields' paths and the PATCH body: `type` (Vapi picks the update schema by it)
/// and each differing top-level field, whole.
fn differences(spec: &Value, vapi: &Value) -> (Vec<String>, Value) {
    let mut fields = Vec::new();
    let mut body = Map::new();
    body.insert(
        "type".into(),
        spec.get("type").cloned().unwrap_or(json!(null)),
    );
    let Some(spec) = spec.as_object() else {
        return (fields, Value::Object(body));
    };
    for (key, want) in spec {
        if key == "type" {
            continue;
        }
        let have = vapi.get(key).unwrap_or(&Value::Null);
        if covers(want, have) {
            continue;
        }
        match (want, have) {
            (Value::Object(want), Value::Object(have)) => {
                for (sub, w) in want {
                    if !covers(w, have.get(sub).unwrap_or(&Value::Null)) {
                        fields.push(format!("{key}.{sub}"));
                    }
                }
            }
            _ => fields.push(key.clone()),
        }
        body.insert(key.clone(), want.clone());
    }
    (fields, Value::Object(body))
}

/// Whether Vapi's value `have` holds everything the spec's `want` says.
fn covers(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| covers(v, h.get(k).unwrap_or(&Value::Null))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().zip(h).all(|(w, h)| covers(w, h))
        }
        (Value::Number(w), Value::Number(h)) => w.as_f64() == h.as_f64(),
        (w, h) => w == h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> Value {
        json!({
            "type": "function",
            "function": {"name": name, "description": description,
                         "parameters": {"type": "object", "properties": {}}},
            "server": {"url": format!("https://gw.example.com/vapi/tools/{name}"),
                       "timeoutSeconds": 20},
            "messages": [{"type": "request-start", "content": "One moment."}],
        })
    }

    /// As Vapi lists it: server-assigned fields and defaults added, numbers as floats.
    fn listed(mut t: Value, id: &str) -> Value {
        t["id"] = json!(id);
        t["orgId"] = json!("org-1");
        t["createdAt"] = json!("2026-01-01T00:00:00.000Z");
        t["updatedAt"] = json!("2026-01-02T00:00:00.000Z");
        t["function"]["strict"] = json!(false);
        t["server"]["timeoutSeconds"] = json!(20.0);
        t
    }

    #[test]
    fn a_listed_copy_of_the_spec_is_unchanged() {
        let spec = vec![tool("a", "A.")];
        let vapi = vec![
            listed(tool("a", "A."), "id-a"),
            listed(tool("z", "Z."), "id-z"),
        ];
        assert_eq!(
            plan(&spec, &vapi).unwrap(),
            vec![Action::Unchanged { name: "a".into() }]
        );
    }

    #[test]
    fn a_missing_tool_is_created_and_a_changed_one_patched_with_its_fields() {
        let spec = vec![tool("a", "A."), tool("b", "B.")];
        let mut old = tool("b", "Old.");
        old["server"]["url"] = json!("https://old.example.com/vapi/tools/b");
        let actions = plan(&spec, &[listed(old, "id-b")]).unwrap();
        assert_eq!(
            actions[0],
            Action::Create {
                name: "a".into(),
                body: tool("a", "A.")
            }
        );
        let Action::Update {
            id, fields, body, ..
        } = &actions[1]
        else {
            panic!("{actions:?}")
        };
        assert_eq!(id, "id-b");
        assert_eq!(fields, &["function.description", "server.url"]);
        assert_eq!(body["type"], "function");
        assert_eq!(body["function"], tool("b", "B.")["function"]);
        assert!(body.get("messages").is_none() && body.get("id").is_none());
    }

    #[test]
    fn a_tool_without_a_function_name_is_skipped_not_matched() {
        let transfer = json!({"type": "transferCall", "messages": []});
        let vapi = vec![listed(tool("a", "A."), "1")];
        assert_eq!(
            plan(&[transfer], &vapi).unwrap(),
            vec![Action::Skipped {
                kind: "transferCall".into()
            }]
        );
    }

    #[test]
    fn duplicates_and_another_type_are_refused() {
        let spec = vec![tool("a", "A.")];
        let dup = vec![listed(tool("a", "A."), "1"), listed(tool("a", "A."), "2")];
        assert!(
            plan(&spec, &dup)
                .unwrap_err()
                .to_string()
                .contains("ids 1, 2")
        );
        let mut other = listed(tool("a", "A."), "1");
        other["type"] = json!("apiRequest");
        assert!(
            plan(&spec, &[other])
                .unwrap_err()
                .to_string()
                .contains("type")
        );
    }
}
