//! Reading the audit trail back from CloudWatch Logs to check its chain (`cargo xtask
//! audit-verify`): every stream of the audit log group (one per gateway task, one spool line per
//! event), read from its head with `GetLogEvents`, every page, and fed to the tolerant
//! [`StreamVerifier`]. The SDK client comes from the standard chain ([`super::sdk_config`]).
//!
//! ```ignore
//! let streams = AuditStreams::new(aws_sdk_cloudwatchlogs::Client::new(&sdk_config), group);
//! for name in streams.names().await? {
//!     let report = streams.check(&name).await?;
//!     // report.intact(), report.problems
//! }
//! ```

use aws_sdk_cloudwatchlogs::error::DisplayErrorContext;

use crate::audit::streams::{StreamReport, StreamVerifier};

/// CloudWatch Logs could not be read. Names the call and the group, never an entry.
#[derive(Debug, thiserror::Error)]
#[error("{call} on {group}: {detail}")]
pub struct LogsError {
    pub call: &'static str,
    pub group: String,
    pub detail: String,
}

/// The audit log group's streams.
pub struct AuditStreams {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    /// Events per `GetLogEvents` page (CloudWatch's default, up to 10,000, when `None`).
    page_limit: Option<i32>,
}

impl AuditStreams {
    /// `group`: `AwsSettings::audit_log_group()`, e.g. `/parlae/dev/audit`.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: impl Into<String>) -> Self {
        Self {
            client,
            group: group.into(),
            page_limit: None,
        }
    }

    /// Smaller pages (tests use it to prove every page is read).
    pub fn with_page_limit(mut self, events: i32) -> Self {
        self.page_limit = Some(events);
        self
    }

    fn error(&self, call: &'static str, e: impl std::error::Error) -> LogsError {
        LogsError {
            call,
            group: self.group.clone(),
            detail: DisplayErrorContext(e).to_string(),
        }
    }

    /// Every stream of the group, by name.
    pub async fn names(&self) -> Result<Vec<String>, LogsError> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .describe_log_streams()
            .log_group_name(&self.group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("DescribeLogStreams", e))?;
            names.extend(
                page.log_streams()
                    .iter()
                    .filter_map(|s| s.log_stream_name().map(str::to_owned)),
            );
        }
        names.sort();
        Ok(names)
    }

    /// Reads `stream` from its head, every page (until the forward token comes back unchanged),
    /// and checks its chain.
    pub async fn check(&self, stream: &str) -> Result<StreamReport, LogsError> {
        let mut verifier = StreamVerifier::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(stream)
                .start_from_head(true)
                .set_limit(self.page_limit)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.error("GetLogEvents", e))?;
            for event in page.events() {
                verifier.push(event.message().unwrap_or_default().as_bytes());
            }
            let next = page.next_forward_token();
            if next.is_none() || next == token.as_deref() {
                break;
            }
            token = next.map(str::to_owned);
        }
        Ok(verifier.finish())
    }
}
