//! [`CloudWatchQuery`]: the [`AuditQuery`] of the `aws` profile, reading the log group the
//! spool is shipped to (`AwsSettings::audit_log_group()`, one stream per task, one entry per log
//! event, the event's timestamp the entry's `time`) with `FilterLogEvents`.
//!
//! CloudWatch narrows what it sends: the time range as `startTime`/`endTime` and the equality
//! filters as a JSON filter pattern ([`AuditFilter::cloudwatch_pattern`]). Then
//! [`AuditFilter::matches`] is applied again to every event, so the answer is right whatever the
//! pattern support (moto, the tests' emulator, ignores JSON patterns). CloudWatch is asked for no
//! more events than the page still needs, so its `nextToken` is always exactly where the next
//! page starts; our `next_token` is `cw:` and that token. Because our own filter may drop events
//! CloudWatch sent, a page can be short, and the last page can be empty.
//!
//! A batch the shipper retried may be in the group twice: within a page an entry (by id) is
//! answered once; across pages it may appear again.

use std::collections::HashSet;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::error::DisplayErrorContext;

use super::query::{AuditFilter, AuditPage, AuditQuery, QueryError};
use crate::audit::AuditEntry;

/// The most `FilterLogEvents` calls one page makes before it answers what it has (with a token
/// to go on), so a sparse filter over a long range cannot hold a request open.
pub const MAX_CALLS_PER_PAGE: usize = 20;

/// Reads the audit log group.
pub struct CloudWatchQuery {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
}

impl CloudWatchQuery {
    /// `group`: `AwsSettings::audit_log_group()`.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: impl Into<String>) -> Self {
        Self {
            client,
            group: group.into(),
        }
    }
}

#[async_trait]
impl AuditQuery for CloudWatchQuery {
    async fn query(
        &self,
        filter: &AuditFilter,
        limit: usize,
        next_token: Option<&str>,
    ) -> Result<AuditPage, QueryError> {
        let mut token = match next_token {
            None => None,
            Some(t) => Some(
                t.strip_prefix("cw:")
                    .filter(|t| !t.is_empty())
                    .ok_or(QueryError::BadToken)?
                    .to_owned(),
            ),
        };
        let limit = limit.max(1);
        let pattern = filter.cloudwatch_pattern();
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_CALLS_PER_PAGE {
            let wanted = (limit - entries.len()).min(10_000) as i32;
            let page = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .limit(wanted)
                .set_start_time(filter.from.map(|t| t.as_millisecond()))
                .set_end_time(filter.to.map(|t| t.as_millisecond()))
                .set_filter_pattern(pattern.clone())
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    let detail = DisplayErrorContext(&e).to_string();
                    tracing::warn!(group = %self.group, error = %detail, "FilterLogEvents failed");
                    QueryError::Unavailable(format!("FilterLogEvents on {}", self.group))
                })?;
            for event in page.events() {
                let Some(message) = event.message() else {
                    continue;
                };
                let Ok(entry) = serde_json::from_str::<AuditEntry>(message) else {
                    tracing::warn!(
                        group = %self.group,
                        stream = event.log_stream_name().unwrap_or_default(),
                        "a log event of the audit group is not an audit entry; skipped"
                    );
                    continue;
                };
                if filter.matches(&entry) && seen.insert(entry.id) {
                    entries.push(entry);
                }
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() || entries.len() >= limit {
                break;
            }
        }
        Ok(AuditPage {
            entries,
            next_token: token.map(|t| format!("cw:{t}")),
        })
    }
}
