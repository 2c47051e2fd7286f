//! Texting's state on the table: consents ([`DynamoConsents`]: a patient's consented number per
//! practice, and the numbers that replied STOP) and the front desk's messages
//! ([`DynamoMessages`]). One request per use; the values are JSON documents, encrypted at rest
//! with the table's key like every item.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use super::{Table, after, expires, failed, get_n, get_s, ms, n, s, short};
use crate::{
    pms::{AccountId, E164, PatientId},
    receptionist::messages::{FrontDeskMessage, MESSAGE_TTL, MessageStore},
    sms::{Consent, Consents},
    state::{StateError, StateResult},
};

/// How long a write is remembered as texted (longer than it can take to settle).
const TEXTED_TTL: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// How long a consent is kept without being given again.
const CONSENT_TTL: Duration = Duration::from_secs(2 * 365 * 24 * 60 * 60);

pub struct DynamoConsents {
    table: Table,
}

impl DynamoConsents {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    fn grant_key(account: &AccountId, patient: &PatientId) -> (String, String) {
        (
            format!("K#{}", short(account.as_str())),
            short(patient.as_str()),
        )
    }

    fn out_key(phone: &E164) -> String {
        format!("O#{}", phone.as_str())
    }
}

#[async_trait]
impl Consents for DynamoConsents {
    async fn grant(
        &self,
        account: &AccountId,
        patient: &PatientId,
        consent: &Consent,
    ) -> StateResult<()> {
        let (pk, sk) = Self::grant_key(account, patient);
        let doc = serde_json::to_string(consent).expect("a consent serialises");
        self.table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(pk))
            .item("sk", s(sk))
            .item("doc", s(doc))
            .item("expires_at", expires(after(consent.given_at, CONSENT_TTL)))
            .send()
            .await
            .map_err(|e| failed("recording a consent", e))?;
        Ok(())
    }

    async fn withdraw(&self, account: &AccountId, patient: &PatientId) -> StateResult<bool> {
        let (pk, sk) = Self::grant_key(account, patient);
        let deleted = self
            .table
            .sent()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s(pk))
            .key("sk", s(sk))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failed("withdrawing a consent", e))?;
        Ok(deleted.attributes.is_some_and(|old| !old.is_empty()))
    }

    async fn consent(
        &self,
        account: &AccountId,
        patient: &PatientId,
    ) -> StateResult<Option<Consent>> {
        let (pk, sk) = Self::grant_key(account, patient);
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
            .map_err(|e| failed("reading a consent", e))?;
        let Some(item) = read.item else {
            return Ok(None);
        };
        let doc = get_s(&item, "doc").unwrap_or_default();
        let consent: Consent = serde_json::from_str(doc)
            .map_err(|e| StateError::counted(format!("a stored consent: {e}")))?;
        // The TTL deletes late: a lapsed consent is no consent.
        let lapsed = after(consent.given_at, CONSENT_TTL) <= self.table.now();
        Ok((!lapsed).then_some(consent))
    }

    async fn opt_out(&self, phone: &E164, at: Timestamp) -> StateResult<()> {
        let put = self
            .table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(Self::out_key(phone)))
            .item("sk", s("stop"))
            .item("at", n(ms(at)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        // Already opted out: the first STOP's time stands.
        super::conditional("recording an opt-out", put).map(drop)
    }

    async fn opt_in(&self, phone: &E164) -> StateResult<bool> {
        let deleted = self
            .table
            .sent()
            .delete_item()
            .table_name(self.table.name())
            .key("pk", s(Self::out_key(phone)))
            .key("sk", s("stop"))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| failed("clearing an opt-out", e))?;
        Ok(deleted.attributes.is_some_and(|old| !old.is_empty()))
    }

    async fn opted_out(&self, phone: &E164) -> StateResult<Option<Timestamp>> {
        let read = self
            .table
            .sent()
            .get_item()
            .table_name(self.table.name())
            .key("pk", s(Self::out_key(phone)))
            .key("sk", s("stop"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| failed("reading an opt-out", e))?;
        Ok(read.item.map(|item| {
            get_n(&item, "at")
                .and_then(|at| Timestamp::from_millisecond(at).ok())
                .unwrap_or(Timestamp::UNIX_EPOCH)
        }))
    }

    async fn first_text(&self, account: &AccountId, key: &str) -> StateResult<bool> {
        let now = self.table.now();
        let put = self
            .table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(format!("N#{}", short(account.as_str()))))
            .item("sk", s(short(key)))
            .item("expires_at", expires(after(now, TEXTED_TTL)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        super::conditional("marking a write texted", put)
    }
}

pub struct DynamoMessages {
    table: Table,
}

impl DynamoMessages {
    pub fn new(table: Table) -> Self {
        Self { table }
    }

    fn pk(account: &AccountId) -> String {
        format!("M#{}", short(account.as_str()))
    }

    fn sk(message: &FrontDeskMessage) -> String {
        format!("{:015}#{}", ms(message.received_at).max(0), message.id)
    }

    /// The sort key of message `id` (`msg_<received ms>_…`, see `messages::new_id`).
    fn sk_of(id: &str) -> Option<String> {
        let received: i64 = id.strip_prefix("msg_")?.split('_').next()?.parse().ok()?;
        Some(format!("{:015}#{id}", received.max(0)))
    }
}

#[async_trait]
impl MessageStore for DynamoMessages {
    async fn record(&self, account: &AccountId, message: &FrontDeskMessage) -> StateResult<()> {
        let doc = serde_json::to_string(message).expect("a message serialises");
        self.table
            .sent()
            .put_item()
            .table_name(self.table.name())
            .item("pk", s(Self::pk(account)))
            .item("sk", s(Self::sk(message)))
            .item("id", s(&message.id))
            .item("doc", s(doc))
            .item("until", n(ms(after(message.received_at, MESSAGE_TTL))))
            .item(
                "expires_at",
                expires(after(message.received_at, MESSAGE_TTL)),
            )
            .send()
            .await
            .map_err(|e| failed("recording a message", e))?;
        Ok(())
    }

    async fn texted(&self, account: &AccountId, id: &str, sid: &str) -> StateResult<()> {
        let Some(sk) = Self::sk_of(id) else {
            return Ok(());
        };
        let updated = self
            .table
            .sent()
            .update_item()
            .table_name(self.table.name())
            .key("pk", s(Self::pk(account)))
            .key("sk", s(sk))
            .update_expression("SET texted = :sid")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":sid", s(sid))
            .send()
            .await;
        super::conditional("noting a message texted", updated).map(drop)
    }

    /// The practice's messages still kept, oldest first (every page).
    async fn list(&self, account: &AccountId) -> StateResult<Vec<FrontDeskMessage>> {
        let now = ms(self.table.now());
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .table
                .sent()
                .query()
                .table_name(self.table.name())
                .key_condition_expression("pk = :pk")
                .filter_expression("#until > :now")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":pk", s(Self::pk(account)))
                .expression_attribute_values(":now", n(now))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| failed("listing messages", e))?;
            for item in page.items.unwrap_or_default() {
                let Some(doc) = get_s(&item, "doc") else {
                    continue;
                };
                match serde_json::from_str::<FrontDeskMessage>(doc) {
                    Ok(mut message) => {
                        if let Some(sid) = get_s(&item, "texted") {
                            message.texted = Some(sid.to_owned());
                        }
                        found.push(message);
                    }
                    Err(e) => tracing::warn!(error = %e, "a stored message could not be read"),
                }
            }
            start = page.last_evaluated_key.filter(|k| !k.is_empty());
            if start.is_none() {
                return Ok(found);
            }
        }
    }
}
