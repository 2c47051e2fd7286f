//! Messages for the front desk (`take_message`): who called, the number to call back, why, how
//! urgent, and when the practice reopens. Kept for `GET /practices/{id}/messages`.
//!
//! Held in this process's memory, per practice, on every profile for now: on the `aws` profile
//! a message is listed only by the task that took it and is lost on restart (the shared state
//! table in `aws/state/` is where they belong next). The name, number and reason are patient
//! data: [`Phi`], never logged, never in the audit trail.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use jiff::{Timestamp, civil::DateTime};

use crate::pms::{AccountId, E164, Phi};

/// How soon the caller needs the call back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
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
#[derive(Debug, Clone)]
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
}

/// The messages of every practice this process serves, oldest first.
#[derive(Default)]
pub struct MessageBox {
    by_practice: Mutex<HashMap<AccountId, Vec<FrontDeskMessage>>>,
    taken: AtomicU64,
}

impl MessageBox {
    /// A reference for a message received at `at`: `msg_<unix ms>_<n>`.
    pub fn next_id(&self, at: Timestamp) -> String {
        let n = self.taken.fetch_add(1, Ordering::Relaxed) + 1;
        format!("msg_{}_{n}", at.as_millisecond())
    }

    pub fn record(&self, account: &AccountId, message: FrontDeskMessage) {
        let mut all = self.by_practice.lock().unwrap_or_else(|e| e.into_inner());
        all.entry(account.clone()).or_default().push(message);
    }

    pub fn list(&self, account: &AccountId) -> Vec<FrontDeskMessage> {
        let all = self.by_practice.lock().unwrap_or_else(|e| e.into_inner());
        all.get(account).cloned().unwrap_or_default()
    }
}
