//! The Sikka emulator against Sikka's own documentation: the documented example requests
//! replayed with the same answer shapes, then pagination, 204, the error envelope, key expiry
//! and refresh, offices authorizing and withdrawing the application, rate limits, the offline
//! agent, and writebacks applied (or failing) later.

mod common;
mod examples;
mod keys;
mod reads;
mod support;
mod writes;
