//! The small ports on the table: tool calls ([`DynamoCalls`]), verified callers
//! ([`DynamoSessions`]), leases ([`DynamoLeases`]) and seen signatures ([`DynamoSeen`]). Each is
//! one conditional write or one read per use.

use std::time::Duration;

use async_trait::async_trait;

use super::{Table, after, conditional, expires, failed, get_n, get_s, ms, n, s, short};
use crate::{
    pms::PatientId,
    receptionist::{
        CallScope,
        idempotency::ANSWER_TTL,
        verify::{SESSION_TTL, SessionScope},
    },
    state::{Begun, Leases, Remembered, Sessions, SharedSeen, StateError, StateResult, ToolCalls},
};

const FLYING: &str = "flying";
const ANSWERED: &str = "answered";

/// Answers by `toolCallId`, shared: a conditional put marks a call as being answered (with a
/// lease), the answer replaces it.
pub struct DynamoCalls {
    table: Table,
}

impl DynamoCalls {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    fn key(scope: &CallScope, id: &str) -> (String, String) {
        (format!("C#{}", scope.digest()), short(id))
    }

    /// Marks the call as being answered here; `false` when someone else has it or answered it.
    async fn mark(&self, pk: &str, sk: &str, lease: Duration) -> StateResult<bool> {
        let now = self.table.now();
        let put = self
            .table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("st", s(FLYING))
            .item("until", n(ms(after(now, lease))))
            .item("expires_at", expires(after(now, ANSWER_TTL)))
            .condition_expression("attribute_not_exists(pk) OR (st = :flying AND #until < :now)")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":flying", s(FLYING))
            .expression_attribute_values(":now", n(ms(now)))
            .send()
            .await;
        conditional("claiming a tool call", put)
    }
}

#[async_trait]
impl ToolCalls for DynamoCalls {
    async fn begin(&self, scope: &CallScope, id: &str, lease: Duration) -> StateResult<Begun> {
        let (pk, sk) = Self::key(scope, id);
        let mut wait = Duration::from_millis(50);
        loop {
            if self.mark(&pk, &sk, lease).await? {
                return Ok(Begun::First);
            }
            let read = self
                .table
                .sent()
                .get_item()
                .table_name(self.table.name())
                .key("pk", s(&pk))
                .key("sk", s(&sk))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| failed("reading a tool call", e))?;
            let Some(item) = read.item else { continue };
            if get_s(&item, "st") == Some(ANSWERED) {
                let doc = get_s(&item, "doc").unwrap_or_default();
                let remembered: Remembered = serde_json::from_str(doc)
                    .map_err(|e| StateError::counted(format!("a remembered answer: {e}")))?;
                return Ok(Begun::Answered(remembered.into()));
            }
            // Being answered by another task: wait for it (or for its lease to lapse).
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_millis(500));
        }
    }

    async fn finish(&self, scope: &CallScope, id: &str, answer: Remembered) -> StateResult<()> {
        let (pk, sk) = Self::key(scope, id);
        let doc = serde_json::to_string(&answer).expect("an answer serialises");
        let now = self.table.now();
        self.table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("st", s(ANSWERED))
            .item("doc", s(doc))
            .item("expires_at", expires(after(now, ANSWER_TTL)))
            .send()
            .await
            .map_err(|e| failed("remembering an answer", e))?;
        Ok(())
    }

    async fn abandon(&self, scope: &CallScope, id: &str) -> StateResult<()> {
        let (pk, sk) = Self::key(scope, id);
        let deleted = self
            .table
            .sent()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("st = :flying")
            .expression_attribute_values(":flying", s(FLYING))
            .send()
            .await;
        conditional("forgetting a tool call", deleted).map(drop)
    }
}

/// Verified callers, shared: a set of patient ids per practice and call. A verification this
/// task wrote is not written again.
pub struct DynamoSessions {
    table: Table,
    written: moka::sync::Cache<(String, String, PatientId), ()>,
}

impl DynamoSessions {
    pub fn new(table: Table) -> Self {
        Self {
            table,
            written: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(SESSION_TTL / 2)
                .build(),
        }
    }

    fn key(scope: SessionScope<'_>) -> Option<(String, String)> {
        let (account, call) = scope.key()?;
        Some((format!("S#{account}"), short(&call)))
    }
}

#[async_trait]
impl Sessions for DynamoSessions {
    async fn remember(&self, scope: SessionScope<'_>, patient: &PatientId) -> StateResult<()> {
        let Some((pk, sk)) = Self::key(scope) else {
            return Ok(());
        };
        let known = (pk.clone(), sk.clone(), patient.clone());
        if self.written.contains_key(&known) {
            return Ok(());
        }
        let now = self.table.now();
        self.table
            .sent()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("ADD patients :p SET expires_at = :e")
            .expression_attribute_values(
                ":p",
                aws_sdk_dynamodb::types::AttributeValue::Ss(vec![patient.to_string()]),
            )
            .expression_attribute_values(":e", expires(after(now, SESSION_TTL)))
            .send()
            .await
            .map_err(|e| failed("remembering a verified caller", e))?;
        self.written.insert(known, ());
        Ok(())
    }

    async fn verified(&self, scope: SessionScope<'_>) -> StateResult<Vec<PatientId>> {
        let Some((pk, sk)) = Self::key(scope) else {
            return Ok(Vec::new());
        };
        let read = self
            .table
            .sent()
            .get_item()
            .table_name(self.table.name())
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("reading verified callers", e))?;
        let Some(item) = read.item else {
            return Ok(Vec::new());
        };
        // Expired but not yet cleared by the TTL: nobody is verified.
        if get_n(&item, "expires_at").is_some_and(|e| e < self.table.now().as_second()) {
            return Ok(Vec::new());
        }
        let ids = item.get("patients").and_then(|v| v.as_ss().ok());
        Ok(ids.into_iter().flatten().map(PatientId::new).collect())
    }
}

/// Leases by name, shared: a conditional put, held by this task until it lapses.
pub struct DynamoLeases {
    table: Table,
}

impl DynamoLeases {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

#[async_trait]
impl Leases for DynamoLeases {
    async fn acquire(&self, name: &str, ttl: Duration) -> StateResult<bool> {
        let now = self.table.now();
        let until = after(now, ttl);
        let put = self
            .table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s("LEASE"))
            .item("sk", s(name))
            .item("owner", s(&self.table.task))
            .item("until", n(ms(until)))
            .item("expires_at", expires(until))
            .condition_expression("attribute_not_exists(pk) OR #until < :now OR #owner = :me")
            .expression_attribute_names("#until", "until")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(ms(now)))
            .expression_attribute_values(":me", s(&self.table.task))
            .send()
            .await;
        conditional("taking a lease", put)
    }

    async fn release(&self, name: &str) -> StateResult<()> {
        let deleted = self
            .table
            .sent()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s("LEASE"))
            .key("sk", s(name))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", s(&self.table.task))
            .send()
            .await;
        conditional("giving a lease back", deleted).map(drop)
    }
}

/// Signatures accepted by any task, shared: a conditional put per signature, for its window.
pub struct DynamoSeen {
    table: Table,
}

impl DynamoSeen {
    pub fn new(table: Table) -> Self {
        Self { table }
    }
}

#[async_trait]
impl SharedSeen for DynamoSeen {
    async fn first_use(&self, mac: &[u8], window: Duration) -> StateResult<bool> {
        let mac = hex::encode(mac);
        // Spread over sixteen partitions: every signed request writes one.
        let shard = &mac[..1.min(mac.len())];
        let now = self.table.now();
        let until = after(now, window);
        let put = self
            .table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(format!("G#{shard}")))
            .item("sk", s(&mac))
            .item("until", n(ms(until)))
            .item("expires_at", expires(until))
            .condition_expression("attribute_not_exists(pk) OR #until < :now")
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":now", n(ms(now)))
            .send()
            .await;
        conditional("remembering a signature", put)
    }
}
