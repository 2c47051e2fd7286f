//! A write is made once. Three memories make it so:
//! - [`Flights`]: a copy of a write's tool call that arrives at this task while the first is
//!   being answered (Vapi retries a slow call) waits for it here, without asking the store;
//! - [`ToolCalls`](crate::state::ToolCalls): a repeated `toolCallId` hears the answer already
//!   given, without touching the practice's system ([`AnswerCache`] in one process; the shared
//!   table on the `aws` profile, where a copy answered by another task is waited for too);
//! - [`WriteKey`]: the business key of a write (patient and slot, appointment and action), under
//!   which the write ledger (`writebacks`) finds a write already made with another `toolCallId`.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use jiff::civil::{Date, DateTime};

use super::Tool;
use crate::pms::{AccountId, AppointmentId, E164, PatientId, Phi, ProviderId};
use crate::state::Remembered;

/// At most this many bytes of remembered answers (the oldest go first).
pub const ANSWER_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How long answers are remembered for a repeated `toolCallId`.
pub const ANSWER_TTL: Duration = Duration::from_secs(2 * 60 * 60);

/// Whose tool calls: one practice, one Vapi call, one caller. A `toolCallId` is unique only
/// within these.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CallScope {
    pub account: AccountId,
    pub call_id: Option<String>,
    pub caller: Option<E164>,
}

impl fmt::Debug for CallScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallScope")
            .field("account", &self.account)
            .field("call_id", &self.call_id)
            .field("caller", &self.caller.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl CallScope {
    /// The scope as one string, for a shared store's key: a SHA-256 of its parts (the caller's
    /// number is not stored in the clear).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new()
            .chain_update(self.account.as_str())
            .chain_update([0x1f]);
        if let Some(call) = &self.call_id {
            digest.update(call);
        }
        digest.update([0x1f]);
        if let Some(caller) = &self.caller {
            digest.update(caller.as_str());
        }
        hex::encode(&digest.finalize()[..16])
    }
}

/// One tool call: its scope and Vapi's `toolCallId`.
type CallKey = (CallScope, String);

/// The business key of a write: the same request made twice (with different `toolCallId`s) is
/// one write. A registration is keyed by a SHA-256 of the person's name and date of birth, so
/// the ledger holds no patient data; `Debug` shows no more than the ids the audit trail carries.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum WriteKey {
    Booking {
        patient: PatientId,
        start: DateTime,
        provider: Option<ProviderId>,
    },
    Cancellation {
        appointment: AppointmentId,
    },
    Reschedule {
        appointment: AppointmentId,
        start: DateTime,
    },
    Registration {
        person: [u8; 32],
    },
}

impl WriteKey {
    /// The key as one string, for a store's key: a SHA-256 of its parts (128 bits, in hex). A
    /// registration's is already a digest, so no name or birth date is kept.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let parts = match self {
            Self::Booking {
                patient,
                start,
                provider,
            } => format!(
                "booking\x1f{patient}\x1f{start}\x1f{}",
                provider.as_ref().map_or("", |p| p.as_str())
            ),
            Self::Cancellation { appointment } => format!("cancellation\x1f{appointment}"),
            Self::Reschedule { appointment, start } => {
                format!("reschedule\x1f{appointment}\x1f{start}")
            }
            Self::Registration { person } => format!("registration\x1f{}", hex::encode(person)),
        };
        hex::encode(&Sha256::digest(parts.as_bytes())[..16])
    }

    /// The key of registering the person with this name and date of birth (case and
    /// surrounding spaces do not matter).
    pub fn registration(first: &Phi<String>, last: &Phi<String>, birth: &Phi<Date>) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(first.expose().trim().to_lowercase())
            .chain_update([0x1f])
            .chain_update(last.expose().trim().to_lowercase())
            .chain_update([0x1f])
            .chain_update(birth.expose().to_string())
            .finalize();
        Self::Registration {
            person: digest.into(),
        }
    }

    /// The tool whose write this is.
    pub fn tool(&self) -> Tool {
        match self {
            Self::Booking { .. } => Tool::BookAppointment,
            Self::Cancellation { .. } => Tool::CancelAppointment,
            Self::Reschedule { .. } => Tool::RescheduleAppointment,
            Self::Registration { .. } => Tool::CreatePatient,
        }
    }
}

impl fmt::Debug for WriteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Booking {
                patient,
                start,
                provider,
            } => write!(f, "Booking({patient}, {start}, {provider:?})"),
            Self::Cancellation { appointment } => write!(f, "Cancellation({appointment})"),
            Self::Reschedule { appointment, start } => {
                write!(f, "Reschedule({appointment}, {start})")
            }
            Self::Registration { person } => {
                write!(f, "Registration({}…)", hex::encode(&person[..4]))
            }
        }
    }
}

/// Answers already given, by call and `toolCallId`: a repeated id gets the same answer without
/// touching the PMS again. Bounded in bytes and time.
pub struct AnswerCache {
    cache: moka::sync::Cache<CallKey, Arc<Remembered>>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .weigher(|(_, id): &CallKey, value: &Arc<Remembered>| {
                    let text = match &value.answer {
                        Ok(t) | Err(t) => t.len(),
                    };
                    u32::try_from(id.len() + text + 128).unwrap_or(u32::MAX)
                })
                .max_capacity(ANSWER_CACHE_BYTES)
                .time_to_live(ANSWER_TTL)
                .build(),
        }
    }
}

impl AnswerCache {
    pub fn get(&self, scope: &CallScope, tool_call_id: &str) -> Option<Arc<Remembered>> {
        if tool_call_id.is_empty() {
            return None;
        }
        self.cache.get(&(scope.clone(), tool_call_id.to_owned()))
    }

    pub fn put(&self, scope: &CallScope, tool_call_id: &str, remembered: Remembered) {
        if !tool_call_id.is_empty() {
            self.cache.insert(
                (scope.clone(), tool_call_id.to_owned()),
                Arc::new(remembered),
            );
        }
    }
}

/// Tool calls being answered, by scope and `toolCallId`: a second copy of one waits for the
/// first, then finds its answer remembered.
#[derive(Default)]
pub struct Flights {
    in_flight: Arc<Mutex<HashMap<CallKey, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Flights {
    /// Waits for any other copy of this tool call to be answered; the copy is answered while the
    /// returned guard lives.
    pub async fn one_at_a_time(&self, scope: &CallScope, tool_call_id: &str) -> Flight {
        let key = (scope.clone(), tool_call_id.to_owned());
        let lock = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        let turn = lock.clone().lock_owned().await;
        Flight {
            in_flight: self.in_flight.clone(),
            key,
            lock,
            _turn: turn,
        }
    }
}

/// The turn of one copy of a tool call (see [`Flights`]); it may outlive the request (a write
/// finishing in the background keeps its copies waiting).
pub struct Flight {
    in_flight: Arc<Mutex<HashMap<CallKey, Arc<tokio::sync::Mutex<()>>>>>,
    key: CallKey,
    lock: Arc<tokio::sync::Mutex<()>>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for Flight {
    /// Forgets the call's lock once no other copy of the call holds or awaits it.
    fn drop(&mut self) {
        let mut flights = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's reference, this one and the turn's: nobody else is waiting.
        if Arc::strong_count(&self.lock) <= 3 {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_keys_carry_no_name_or_birth_date() {
        let key = WriteKey::registration(
            &Phi::new("Olivia".into()),
            &Phi::new("Martinez".into()),
            &Phi::new(jiff::civil::date(1988, 4, 12)),
        );
        let shown = format!("{key:?}").to_lowercase();
        assert!(shown.starts_with("registration("), "{shown}");
        assert!(
            !shown.contains("olivia") && !shown.contains("martinez") && !shown.contains("1988")
        );
        let again = WriteKey::registration(
            &Phi::new(" olivia ".into()),
            &Phi::new("MARTINEZ".into()),
            &Phi::new(jiff::civil::date(1988, 4, 12)),
        );
        assert_eq!(key, again, "the same person is the same key");
        assert_eq!(key.tool(), Tool::CreatePatient);
    }

    #[test]
    fn a_call_scope_never_shows_the_caller() {
        let scope = CallScope {
            account: AccountId::new("A1"),
            call_id: Some("call-1".into()),
            caller: Some(E164::parse("+13105550100").unwrap()),
        };
        assert!(!format!("{scope:?}").contains("5550100"));
    }

    #[tokio::test]
    async fn a_second_copy_of_a_call_waits_for_the_first_and_the_lock_is_then_forgotten() {
        let flights = Flights::default();
        let scope = CallScope {
            account: AccountId::new("A1"),
            call_id: Some("call-1".into()),
            caller: None,
        };
        let first = flights.one_at_a_time(&scope, "t1").await;
        let second = flights.one_at_a_time(&scope, "t1");
        tokio::pin!(second);
        let waited = tokio::time::timeout(Duration::ZERO, second.as_mut()).await;
        assert!(
            waited.is_err(),
            "the copy waits while the first is answered"
        );
        drop(first);
        let second = second.await;
        drop(second);
        assert!(flights.in_flight.lock().unwrap().is_empty());
    }
}
