//! Sikka's support APIs, for the practice doctor (`crate::doctor`): `GET /health_check` (the
//! practice's Sikka agent, SPC: its error flag and description, whether it is inactive, when it
//! last refreshed) and `GET /data_sync_status` (`refresh` / `not_refresh`: whether the agent
//! synced the PMS within 24 hours). Both are application-level calls (`App-Id`, `App-Key`).
//!
//! Read leniently: every documented field is a string and any may be missing; an item is kept
//! as its string fields, so an unknown or absent field never fails the read. Dates come as
//! `2022-03-28T01:40:31` or `10/3/2023 11:36:12 PM` and are passed on as written.

use std::collections::BTreeMap;

use reqwest::Method;

use super::client::SikkaClient;
use super::error::SikkaError;
use super::transport::{Auth, Call};
use crate::pms::OfficeId;

/// One item of a support list: its string (or scalar) fields by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupportItem(pub BTreeMap<String, String>);

impl SupportItem {
    /// The field, trimmed, when present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A `"True"`/`"true"`/`"1"`/`"yes"` field.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| {
            ["true", "1", "yes", "y"]
                .iter()
                .any(|t| v.eq_ignore_ascii_case(t))
        })
    }
}

/// The items of a list envelope (`{"items": [...]}`, or a bare array), each as its scalar
/// fields. Anything else in the body is ignored.
pub fn support_items(body: &serde_json::Value) -> Vec<SupportItem> {
    let items = match body {
        serde_json::Value::Array(items) => items.as_slice(),
        other => other
            .get("items")
            .and_then(|i| i.as_array())
            .map_or(&[][..], Vec::as_slice),
    };
    items
        .iter()
        .filter_map(|item| item.as_object())
        .map(|fields| {
            SupportItem(
                fields
                    .iter()
                    .filter_map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Bool(b) => b.to_string(),
                            serde_json::Value::Number(n) => n.to_string(),
                            _ => return None,
                        };
                        Some((k.clone(), v))
                    })
                    .collect(),
            )
        })
        .collect()
}

impl SikkaClient {
    /// `GET /health_check?office_id=…`: the office's agent items (none: not listed).
    pub async fn health_check(&self, office: &OfficeId) -> Result<Vec<SupportItem>, SikkaError> {
        self.support("health_check", office).await
    }

    /// `GET /data_sync_status?office_id=…`: the office's sync items (none: not listed).
    pub async fn data_sync_status(
        &self,
        office: &OfficeId,
    ) -> Result<Vec<SupportItem>, SikkaError> {
        self.support("data_sync_status", office).await
    }

    async fn support(&self, path: &str, office: &OfficeId) -> Result<Vec<SupportItem>, SikkaError> {
        let config = self.config();
        let query = [("office_id", office.as_str().to_owned())];
        let call = Call {
            method: Method::GET,
            path,
            query: &query,
            auth: Auth::App {
                id: &config.app_id,
                key: &config.app_key,
            },
            body: None,
        };
        let deadline = tokio::time::Instant::now() + config.call_timeout;
        let answer = match self
            .transport()
            .send(&call, self.app_limiter(), deadline)
            .await
        {
            Ok(answer) => answer,
            Err(SikkaError::NoContent | SikkaError::NotFound) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        if answer.is_empty() {
            return Ok(Vec::new());
        }
        let body: serde_json::Value = answer.json()?;
        let items = support_items(&body);
        // Sikka filters by office; keep only this office's items in case it did not.
        Ok(items
            .into_iter()
            .filter(|i| i.get("office_id").is_none_or(|o| o == office.as_str()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_read_leniently() {
        let body = serde_json::json!({
            "offset": "0",
            "items": [
                {"status": "refresh", "office_id": "D1", "data_insert_date": "2022-03-28T01:40:31",
                 "nested": {"x": 1}, "count": 3, "is_inactive": false},
                "not an object",
                {}
            ]
        });
        let items = support_items(&body);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].get("status"), Some("refresh"));
        assert_eq!(items[0].get("count"), Some("3"));
        assert!(!items[0].flag("is_inactive"));
        assert_eq!(items[0].get("nested"), None);
        assert_eq!(items[1].get("status"), None);
        assert!(support_items(&serde_json::json!({"error": "x"})).is_empty());
    }
}
