//! The practice gateway: answers a Vapi voice receptionist's tool calls by reading and writing the
//! practice's PMS, audits every access to patient data, and keeps every practice's credentials.
//! See `docs/architecture.md` for the module map; dependencies point inward, towards
//! `receptionist` and `pms`.

pub mod admin;
pub mod api;
pub mod audit;
pub mod aws;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod metrics;
pub mod pms;
pub mod practices;
pub mod receptionist;
pub mod secret;
pub mod sms;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod vapi;

#[cfg(test)]
pub(crate) mod fuzz;
