//! What each tool does: caller verification, availability, booking rules, idempotency, and the
//! words returned to the assistant.

pub mod availability;
