//! The audit shipper's CloudWatch Logs destination ([`crate::audit::shipper::LogDestination`]):
//! `PutLogEvents` into one stream of the group [`crate::config::AwsSettings::audit_log_group`]
//! (`/<prefix>/audit`, created by Terraform, never by us), creating the stream with
//! `CreateLogStream` before its first put (already there is fine) and again if it was deleted.
//!
//! Errors are classified for the shipper: throttling, 5xx, timeouts and broken connections are
//! retryable; anything else (no permission, no such group, a refused parameter) is fatal. The
//! SDK retries a few times itself (standard mode) and gives up; the shipper then retries the
//! batch indefinitely with its own backoff. [`client`] sets attempt timeouts, so a CloudWatch
//! endpoint that holds a connection without answering counts as a timeout, not a hang.
//! `rejectedLogEventsInfo` becomes the batch's [`Rejections`]. Error texts name the group and
//! stream, never an event.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use crate::audit::shipper::{DestinationError, LogDestination, LogEvent, Rejections};

/// How long one attempt of a call may take before it counts as a (retryable) timeout.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one call may take, the SDK's own retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// A CloudWatch Logs client from the shared SDK configuration, with [`ATTEMPT_TIMEOUT`] and
/// [`OPERATION_TIMEOUT`].
pub fn client(sdk: &aws_config::SdkConfig) -> Client {
    let config = aws_sdk_cloudwatchlogs::config::Builder::from(sdk)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .build();
    Client::from_conf(config)
}

/// Puts audit batches into streams of one log group.
pub struct CloudWatchLogs {
    client: Client,
    group: String,
    /// The stream known to exist.
    created: Mutex<Option<String>>,
}

impl CloudWatchLogs {
    /// The destination for the log group `group` (`AwsSettings::audit_log_group()`).
    pub fn new(client: Client, group: impl Into<String>) -> Self {
        Self {
            client,
            group: group.into(),
            created: Mutex::new(None),
        }
    }

    fn created(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.created
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn ensure_stream(&self, stream: &str) -> Result<(), DestinationError> {
        if self.created().as_deref() == Some(stream) {
            return Ok(());
        }
        let created = self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(SdkError::ServiceError(e)) if e.err().is_resource_already_exists_exception() => {}
            Err(e) => {
                return Err(classify(
                    e,
                    &format!("creating log stream {stream} in {}", self.group),
                ));
            }
        }
        *self.created() = Some(stream.to_owned());
        Ok(())
    }
}

#[async_trait]
impl LogDestination for CloudWatchLogs {
    async fn put(&self, stream: &str, events: &[LogEvent]) -> Result<Rejections, DestinationError> {
        self.ensure_stream(stream).await?;
        let events = events
            .iter()
            .map(|e| {
                InputLogEvent::builder()
                    .timestamp(e.timestamp_ms)
                    .message(e.message.clone())
                    .build()
                    .expect("timestamp and message are set")
            })
            .collect();
        let put = self
            .client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await;
        let out = match put {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                // The stream was deleted (or the group is gone): create it again next time; if
                // the group is missing, that creation fails as fatal.
                *self.created() = None;
                return Err(DestinationError::Retryable(format!(
                    "log stream {stream} in {} not found; recreating it",
                    self.group
                )));
            }
            Err(e) => {
                return Err(classify(
                    e,
                    &format!("putting events into {}/{stream}", self.group),
                ));
            }
        };
        let index = |i: Option<i32>| i.and_then(|i| usize::try_from(i).ok());
        Ok(out
            .rejected_log_events_info()
            .map_or(Rejections::default(), |r| Rejections {
                too_old_end: index(r.too_old_log_event_end_index()),
                too_new_start: index(r.too_new_log_event_start_index()),
                expired_end: index(r.expired_log_event_end_index()),
            }))
    }
}

/// Error codes that mean "slow down" or "try again": retryable whatever their status.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailableException",
    "InternalFailure",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Retryable: a timeout, a connection that failed or broke, an unreadable response, a 5xx or
/// 429, or a throttling code; fatal: everything else.
fn classify<E>(
    error: SdkError<E, aws_sdk_cloudwatchlogs::config::http::HttpResponse>,
    doing: &str,
) -> DestinationError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            status >= 500
                || status == 429
                || e.err().code().is_some_and(|c| RETRYABLE_CODES.contains(&c))
        }
        _ => false,
    };
    let detail = format!("{doing}: {}", DisplayErrorContext(&error));
    if retryable {
        DestinationError::Retryable(detail)
    } else {
        DestinationError::Fatal(detail)
    }
}
