//! The admin side of the gateway, for the people who must read the audit trail: who may
//! (`cognito.rs`: Cognito access tokens, verified against the user pool's JWKS with the gateway's
//! clock) and what they read (`query.rs`: the [`AuditQuery`] port and its filter; `spool_query.rs`
//! reads the local spool, `cloudwatch.rs` the CloudWatch Logs group the spool is shipped to).
//! HTTP lives in `api/admin.rs` (`GET /audit/events`).
//!
//! Wiring (the caller's part): put a [`CognitoVerifier`] (from `Settings::cognito`) and an
//! `Arc<dyn AuditQuery>` in `AppState::admin` ([`crate::api::AdminState`]). On the `aws` profile
//! the query is `CloudWatchQuery::new(aws_sdk_cloudwatchlogs::Client::new(&sdk_config),
//! aws.audit_log_group())`; on the local profile `startup.rs` uses `SpoolQuery::new(AUDIT_DIR)`.
//! Either missing: the admin routes answer 503 saying which.

pub mod cloudwatch;
pub mod cognito;
pub mod query;
pub mod spool_query;

pub use cloudwatch::CloudWatchQuery;
pub use cognito::{AdminIdentity, CognitoSettings, CognitoVerifier, TokenError};
pub use query::{AuditFilter, AuditPage, AuditQuery, QueryError};
pub use spool_query::SpoolQuery;
