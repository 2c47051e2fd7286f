//! Reading the audit trail back: the [`AuditQuery`] port behind `GET /audit/events`, its
//! [`AuditFilter`] and the rule of what counts as patient data.
//!
//! Two adapters: [`super::spool_query::SpoolQuery`] reads the local spool's files (the local
//! profile), [`super::cloudwatch::CloudWatchQuery`] reads the CloudWatch Logs group the spool is
//! shipped to (the `aws` profile). Whatever an adapter's store can filter, every adapter applies
//! [`AuditFilter::matches`] to what it returns, so the answer is the same wherever it comes from.
//!
//! **Patient data** (`phi_only`): an entry involves patient data when it names patients
//! (`patient_ids` not empty) or when its resource is a tool that reads or writes patient records
//! (appointments, patient search and records, whatever the outcome: a denied or failed attempt
//! at patient data is part of that record) — see [`PATIENT_RESOURCES`]. Availability, the
//! provider list and transfers, and authentication of other routes, are not.

use async_trait::async_trait;
use jiff::Timestamp;

use crate::audit::{AuditAction, AuditEntry, AuditOutcome};

/// The most entries one page holds, and the default.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;

/// The tools whose work reads or writes patient records. A resource is one of these, or a path
/// ending in one (`/vapi/tools/get_patient_info`, as a denied request is audited).
pub const PATIENT_RESOURCES: &[&str] = &[
    "book_appointment",
    "cancel_appointment",
    "reschedule_appointment",
    "get_appointments",
    "search_patients",
    "get_patient_info",
    "create_patient",
    "update_patient",
];

/// Which entries to answer. Every field narrows; an empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub account_id: Option<String>,
    /// Entries at or after this instant.
    pub from: Option<Timestamp>,
    /// Entries before this instant (exclusive).
    pub to: Option<Timestamp>,
    /// The Vapi call (`actor.call_id`).
    pub call_id: Option<String>,
    /// Entries naming this patient id.
    pub patient_id: Option<String>,
    pub action: Option<AuditAction>,
    pub outcome: Option<AuditOutcome>,
    /// Only entries that involve patient data (see the module doc).
    pub phi_only: bool,
}

/// Whether `entry` involves patient data (see the module doc).
pub fn involves_patient_data(entry: &AuditEntry) -> bool {
    let resource = entry.event.resource.as_str();
    let name = resource.rsplit('/').next().unwrap_or(resource);
    !entry.event.patient_ids.is_empty() || PATIENT_RESOURCES.contains(&name)
}

impl AuditFilter {
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        let event = &entry.event;
        self.account_id
            .as_deref()
            .is_none_or(|a| event.account_id.as_ref().is_some_and(|x| x.as_str() == a))
            && self.from.is_none_or(|from| entry.time >= from)
            && self.to.is_none_or(|to| entry.time < to)
            && self
                .call_id
                .as_deref()
                .is_none_or(|c| event.actor.call_id.as_deref() == Some(c))
            && self
                .patient_id
                .as_deref()
                .is_none_or(|p| event.patient_ids.iter().any(|x| x.as_str() == p))
            && self.action.is_none_or(|a| event.action == a)
            && self.outcome.is_none_or(|o| event.outcome == o)
            && (!self.phi_only || involves_patient_data(entry))
    }

    /// A CloudWatch Logs JSON filter pattern for the equality filters, or `None` when there are
    /// none (time is filtered by `startTime`/`endTime`; `phi_only` only in our code). Values are
    /// quoted; a value holding `"` or `\` is left to our own filtering rather than escaped.
    pub fn cloudwatch_pattern(&self) -> Option<String> {
        let text = |v: &str| (!v.contains(['"', '\\'])).then(|| format!("\"{v}\""));
        let mut terms = Vec::new();
        let mut add = |field: &str, value: Option<String>| {
            if let Some(value) = value {
                terms.push(format!("($.{field} = {value})"));
            }
        };
        add("account_id", self.account_id.as_deref().and_then(text));
        add("actor.call_id", self.call_id.as_deref().and_then(text));
        add("action", self.action.map(|a| format!("\"{}\"", word(a))));
        add("outcome", self.outcome.map(|o| format!("\"{}\"", word(o))));
        // `patient_ids` is an array: `$.patient_ids[*]` is not a CloudWatch selector, so our
        // own filter does it.
        (!terms.is_empty()).then(|| format!("{{ {} }}", terms.join(" && ")))
    }

    /// The filters in words, for the audit entry of the read (ids only, as any entry holds).
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.account_id {
            parts.push(format!("account_id={a}"));
        }
        if let Some(t) = self.from {
            parts.push(format!("from={t}"));
        }
        if let Some(t) = self.to {
            parts.push(format!("to={t}"));
        }
        if let Some(c) = &self.call_id {
            parts.push(format!("call_id={c}"));
        }
        if let Some(p) = &self.patient_id {
            parts.push(format!("patient_id={p}"));
        }
        if let Some(a) = self.action {
            parts.push(format!("action={}", word(a)));
        }
        if let Some(o) = self.outcome {
            parts.push(format!("outcome={}", word(o)));
        }
        if self.phi_only {
            parts.push("phi_only=true".into());
        }
        if parts.is_empty() {
            "no filters".into()
        } else {
            parts.join(" ")
        }
    }
}

/// An action or outcome as it is written in an entry (`read`, `denied`).
pub fn word<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One page of matching entries, oldest first within the page.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Where the next page starts; `None` when there is nothing after this page.
    pub next_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The `next_token` was not one this store handed out.
    #[error("next_token is not a token this gateway handed out")]
    BadToken,
    /// The store could not be read.
    #[error("the audit trail could not be read: {0}")]
    Unavailable(String),
}

/// Reads the audit trail: entries matching `filter`, at most `limit` (1 to [`MAX_LIMIT`]),
/// starting where `next_token` (from the previous page) says. Following the tokens visits every
/// matching entry once.
#[async_trait]
pub trait AuditQuery: Send + Sync + 'static {
    async fn query(
        &self,
        filter: &AuditFilter,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<AuditPage, QueryError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditActor, AuditEvent, chain::GENESIS};
    use crate::pms::{AccountId, PatientId};

    fn entry(resource: &str, patients: &[&str]) -> AuditEntry {
        let event = AuditEvent {
            action: AuditAction::Read,
            outcome: AuditOutcome::Success,
            resource: resource.into(),
            account_id: Some(AccountId::new("acct_a")),
            actor: AuditActor {
                kind: "vapi".into(),
                call_id: Some("call_1".into()),
                ..Default::default()
            },
            patient_ids: patients.iter().map(|p| PatientId::new(*p)).collect(),
            request_id: None,
            source_ip: None,
            reason: None,
        };
        AuditEntry::seal(uuid::Uuid::nil(), 1, Timestamp::UNIX_EPOCH, event, GENESIS)
    }

    #[test]
    fn patient_data_is_patient_ids_or_a_patient_tool() {
        assert!(involves_patient_data(&entry("list_providers", &["p1"])));
        assert!(involves_patient_data(&entry("get_patient_info", &[])));
        assert!(involves_patient_data(&entry(
            "/vapi/tools/get_appointments",
            &[]
        )));
        assert!(!involves_patient_data(&entry("check_availability", &[])));
        assert!(!involves_patient_data(&entry("/vapi/webhook", &[])));
    }

    #[test]
    fn the_cloudwatch_pattern_names_the_equality_filters() {
        let filter = AuditFilter {
            account_id: Some("acct_a".into()),
            call_id: Some("call_1".into()),
            action: Some(AuditAction::Read),
            outcome: Some(AuditOutcome::Denied),
            phi_only: true,
            ..Default::default()
        };
        assert_eq!(
            filter.cloudwatch_pattern().as_deref(),
            Some(
                "{ ($.account_id = \"acct_a\") && ($.actor.call_id = \"call_1\") && \
                 ($.action = \"read\") && ($.outcome = \"denied\") }"
            )
        );
        assert_eq!(AuditFilter::default().cloudwatch_pattern(), None);
        let quoted = AuditFilter {
            account_id: Some("a\"b".into()),
            ..Default::default()
        };
        assert_eq!(quoted.cloudwatch_pattern(), None);
        assert!(!quoted.matches(&entry("get_patient_info", &[])));
    }

    #[test]
    fn every_filter_narrows() {
        let e = entry("get_patient_info", &["p1"]);
        assert!(AuditFilter::default().matches(&e));
        let with = |f: AuditFilter| f.matches(&e);
        assert!(!with(AuditFilter {
            patient_id: Some("p2".into()),
            ..Default::default()
        }));
        assert!(with(AuditFilter {
            patient_id: Some("p1".into()),
            ..Default::default()
        }));
        assert!(!with(AuditFilter {
            to: Some(Timestamp::UNIX_EPOCH),
            ..Default::default()
        }));
        assert!(with(AuditFilter {
            from: Some(Timestamp::UNIX_EPOCH),
            ..Default::default()
        }));
        assert!(!with(AuditFilter {
            outcome: Some(AuditOutcome::Denied),
            ..Default::default()
        }));
    }
}
