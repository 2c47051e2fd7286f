//! The tasks' shared state in one DynamoDB table (`<prefix>-<env>-state`, keys `pk`/`sk`, TTL on
//! `expires_at`, created by `terraform/modules/state`). One table, because every item is small,
//! short-lived and read by key, and the conditional writes that make it safe (a slot hold and its
//! ledger claim in one transaction) only span items of one table's transaction anyway; one
//! table is one key policy, one alarm and one IAM statement.
//!
//! | item | `pk` | `sk` | expires |
//! |---|---|---|---|
//! | ledger entry | `L#<account>` | write key digest | settled + 1 h, pending + `settle_for` + 1 h |
//! | slot hold unit | `H#<account>` | `p#<provider>#<start>` / `o#<operatory>#<start>` | with its write |
//! | followed write | `F` | `<account>#<digest>` | `settle_for` |
//! | tool call | `C#<scope digest>` | `toolCallId` | 2 h |
//! | verified caller | `S#<account>` | call id | 2 h |
//! | seen signature | `G#<first hex digit>` | MAC (hex) | 2 × skew |
//! | lease | `LEASE` | name | its TTL |
//! | text consent | `K#<account>` | patient id | given + 2 years |
//! | opted-out number | `O#<E.164>` | `stop` | none (until START) |
//! | front-desk message | `M#<account>` | `<received ms, 15 digits>#<id>` | received + 30 days |
//! | write texted | `N#<account>` | write key digest | 3 days |
//!
//! Every condition compares times the items carry (`live_until`, `until`: epoch milliseconds),
//! never DynamoDB's TTL, which deletes late. Each request counts in `state::COUNTS`; a failed one
//! is a [`StateError`] (counted; throttling too).

mod items;
mod ledger;
mod texts;

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client, error::DisplayErrorContext, error::ProvideErrorMetadata, types::AttributeValue,
};
use jiff::Timestamp;

pub use items::{DynamoCalls, DynamoLeases, DynamoSeen, DynamoSessions};
pub use ledger::DynamoLedger;
pub use texts::{DynamoConsents, DynamoMessages};

use crate::{
    clock::Clock,
    state::{COUNTS, StateError, StateResult, StateStores},
};

/// The table, its clock and this task's name (the owner of its leases).
#[derive(Clone)]
pub struct Table {
    client: Client,
    name: String,
    clock: Clock,
    task: String,
}

type Item = HashMap<String, AttributeValue>;

impl Table {
    /// The table `name`; a request (retries included) taking longer than `timeout` fails.
    pub fn new(sdk: &aws_config::SdkConfig, name: String, clock: Clock, timeout: Duration) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(timeout)
            .build();
        // Five attempts (the SDK's default is three): a claim refused by a transient error is a
        // booking refused, and DynamoDB answers the next attempt in milliseconds.
        let retries = aws_config::retry::RetryConfig::standard().with_max_attempts(5);
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .retry_config(retries)
            .build();
        Self {
            client: Client::from_conf(config),
            name,
            clock,
            task: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Every port on this table.
    pub fn stores(self) -> StateStores {
        StateStores {
            ledger: std::sync::Arc::new(DynamoLedger::new(self.clone())),
            calls: std::sync::Arc::new(DynamoCalls::new(self.clone())),
            sessions: std::sync::Arc::new(DynamoSessions::new(self.clone())),
            leases: std::sync::Arc::new(DynamoLeases::new(self.clone())),
            consents: std::sync::Arc::new(DynamoConsents::new(self.clone())),
            messages: std::sync::Arc::new(DynamoMessages::new(self.clone())),
            seen: Some(std::sync::Arc::new(DynamoSeen::new(self))),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Counts a request about to be sent.
    fn sent(&self) -> &Client {
        COUNTS
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.client
    }
}

/// A failed request, counted (throttling as such too).
fn failed<E>(what: &str, e: aws_sdk_dynamodb::error::SdkError<E>) -> StateError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let throttled = matches!(
        e.code(),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
        )
    );
    if throttled {
        COUNTS
            .throttles
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let error = StateError::counted(format!("{what}: {}", DisplayErrorContext(&e)));
    tracing::warn!(error = %error, throttled, "shared state request failed");
    error
}

/// Whether a single-item write failed its condition (not a failure of the store).
fn condition_failed<E: ProvideErrorMetadata>(e: &aws_sdk_dynamodb::error::SdkError<E>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// A conditional single-item write's answer: `true` written, `false` refused by its condition;
/// any other failure is the store's (`what` says what was being done).
fn conditional<T, E>(
    what: &str,
    sent: Result<T, aws_sdk_dynamodb::error::SdkError<E>>,
) -> StateResult<bool>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match sent {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(failed(what, e)),
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// `at` as DynamoDB's TTL wants it (epoch seconds), a day late: the item's own times decide
/// whether it counts; the TTL only clears it away.
fn expires(at: Timestamp) -> AttributeValue {
    n(at.as_second().saturating_add(24 * 60 * 60))
}

fn after(t: Timestamp, d: Duration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// A key part kept short: long values (Vapi's ids are short; a hostile one need not be) are
/// replaced by their digest.
fn short(value: &str) -> String {
    use sha2::{Digest, Sha256};
    if value.len() <= 200 {
        value.to_owned()
    } else {
        format!("sha256:{}", hex::encode(Sha256::digest(value.as_bytes())))
    }
}
