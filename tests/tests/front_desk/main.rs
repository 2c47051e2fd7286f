//! The front desk, as a caller meets it, on both backends: `transfer_to_human` transfers the live
//! call through the call's `monitor.controlUrl` (a fake control endpoint here checks the body Vapi
//! would get), or says precisely why not — no transfer number, no control URL, a control URL the
//! gateway may not call, the endpoint failing or silent, the office closed (then a message is
//! offered with when it reopens), and Vapi's `transferCall` tool is given the front desk by the
//! webhook only within the practice's hours; `take_message` records a message, audits it without its content,
//! tells the caller when to expect a call back, and lists it for the staff at
//! `GET /practices/{id}/messages` behind the admin token only.

mod common;
mod messages;
mod transfer;
