//! Messages for the front desk (`take_message`): who called, the number to call back, why, how
//! urgent, and when the practice reopens. Every message is kept for `GET
//! /practices/{id}/messages` (for [`MESSAGE_TTL`]), and texted to the practice's staff number
//! when it has one (`texts.rs`; the message notes whether that text was accepted).
//!
//! Kept behind the [`MessageStore`] port: in this process's memory on the local profile
//! ([`MemoryMessages`]), in the shared table on the `aws` profile (`aws::state::DynamoMessages`),
//! so any task lists every task's messages. The name, number and reason are patient data:
//! [`Phi`], never logged, never in the audit trail.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use async_trait::async_trait;
use jiff::{Timestamp, civil::DateTime};
use serde::{Deserialize, Serialize};

use crate::{
    pms::{AccountId, E164, Phi},
    state::StateResult,
};

/// How long a message is kept for the front desk.
pub const MESSAGE_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How soon the caller needs the call back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Routine,
    Urgent,
}

impl Urgency {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "routine" | "normal" => Some(Self::Routine),
            "urgent" => Some(Self::Urgent),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Routine => "routine",
            Self::Urgent => "urgent",
        }
    }
}

/// One message taken for the front desk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrontDeskMessage {
    pub id: String,
    pub received_at: Timestamp,
    pub call_id: Option<String>,
    pub caller_name: Phi<String>,
    pub callback_number: Phi<E164>,
    pub reason: Phi<String>,
    pub urgency: Urgency,
    /// When the practice opens next (practice-local), if it was closed; `None` when it was open
    /// (a call back today) or has no hours scheduled soon.
    pub call_back_from: Option<DateTime>,
    /// The SID of the text that delivered it to the practice's staff number, once Twilio
    /// accepted one.
    #[serde(default)]
    pub texted: Option<String>,
}

/// A reference for a message received at `at`, unique across tasks: `msg_<unix ms>_<8 hex>`.
pub fn new_id(at: Timestamp) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("msg_{}_{}", at.as_millisecond(), &random[..8])
}

/// Where messages are kept.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    async fn record(&self, account: &AccountId, message: &FrontDeskMessage) -> StateResult<()>;
    /// Notes that message `id` was texted to the staff (Twilio's message `sid`).
    async fn texted(&self, account: &AccountId, id: &str, sid: &str) -> StateResult<()>;
    /// The practice's messages still kept, oldest first.
    async fn list(&self, account: &AccountId) -> StateResult<Vec<FrontDeskMessage>>;
}

/// The messages of every practice this process serves, oldest first.
#[derive(Default)]
pub struct MemoryMessages {
    by_practice: Mutex<HashMap<AccountId, Vec<FrontDeskMessage>>>,
}

impl MemoryMessages {
    fn all(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Vec<FrontDeskMessage>>> {
        self.by_practice.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl MessageStore for MemoryMessages {
    async fn record(&self, account: &AccountId, message: &FrontDeskMessage) -> StateResult<()> {
        self.all()
            .entry(account.clone())
            .or_default()
            .push(message.clone());
        Ok(())
    }

    async fn texted(&self, account: &AccountId, id: &str, sid: &str) -> StateResult<()> {
        if let Some(message) = self
            .all()
            .get_mut(account)
            .and_then(|all| all.iter_mut().find(|m| m.id == id))
        {
            message.texted = Some(sid.to_owned());
        }
        Ok(())
    }

    async fn list(&self, account: &AccountId) -> StateResult<Vec<FrontDeskMessage>> {
        Ok(self.all().get(account).cloned().unwrap_or_default())
    }
}
