//! Text messages: Twilio's Messages API ([`twilio`]), consent to be texted ([`consent`]) and
//! Twilio's inbound webhook's signature and keywords ([`inbound`]). What is texted, to whom and
//! when is the receptionist's (`receptionist/texts.rs`); the webhook's HTTP side is
//! `api/twilio.rs`.

pub mod consent;
pub mod inbound;
pub mod twilio;

use std::sync::atomic::AtomicU64;

pub use consent::{Consent, Consents, MemoryConsents};
pub use twilio::{SmsError, TwilioClient, TwilioSettings};

/// Running totals of texts, for the metrics (`SmsSent`, `SmsFailed`, `SmsOptedOut`).
pub struct SmsCounts {
    /// Accepted by Twilio.
    pub sent: AtomicU64,
    /// Refused by Twilio or not sent for an error (Twilio unreachable, consent unreadable).
    pub failed: AtomicU64,
    /// Not sent: the number opted out.
    pub opted_out: AtomicU64,
}

pub static COUNTS: SmsCounts = SmsCounts {
    sent: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    opted_out: AtomicU64::new(0),
};
