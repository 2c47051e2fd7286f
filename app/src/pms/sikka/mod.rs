//! The Sikka ONE API v4 adapter: [`SikkaClient`] (shared HTTP client, application credentials,
//! onboarding calls) and [`SikkaPractice`] (one practice, implementing [`PracticeSystem`]).
//! Layers, inside out: `wire` (Sikka's envelopes and items), `convert` and `schedule` (items → domain types),
//! `error` ([`SikkaError`] → [`PmsError`]), `limiter` and `transport` (one exchange under a
//! deadline, retries), `credentials` (the [`CredentialStore`] port the adapter needs, which
//! `practices` implements), `tokens` (single-flight request-key renewal through it), `writes`
//! (writeback bodies), `practice` (the port's calls), `support` (the agent's health, for the
//! practice doctor).
//!
//! [`PracticeSystem`]: crate::pms::PracticeSystem
//! [`PmsError`]: crate::pms::PmsError

mod client;
mod convert;
mod credentials;
mod error;
mod limiter;
mod lost;
mod practice;
mod schedule;
mod support;
mod tokens;
mod transport;
mod wire;
mod writes;

#[cfg(test)]
mod examples_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wire_fuzz;

pub use client::{AuthorizedPractice, DEFAULT_BASE_URL, IssuedKey, SikkaClient, SikkaConfig};
pub use credentials::{CredentialStore, SikkaCredentials, StoreError};
pub use error::SikkaError;
pub use practice::{SikkaPractice, SikkaPracticeConfig};
pub use support::{SupportItem, support_items};
pub use transport::RetryPolicy;
