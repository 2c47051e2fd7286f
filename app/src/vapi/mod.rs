//! Vapi's wire format: the server-message envelope in every variant seen in the wild
//! ([`envelope`]), the results Vapi expects back ([`results`]), verification of Vapi's requests
//! ([`auth`]) and the export of tool definitions from the OpenAPI document ([`tooldefs`]).
//! Knows nothing of HTTP frameworks: it works on bytes, header look-ups and JSON values.

pub mod auth;
mod auth_env;
pub mod envelope;
mod lenient;
pub mod practice_auth;
pub mod replay;
pub mod results;
pub mod tooldefs;

#[cfg(test)]
mod auth_fuzz;
#[cfg(test)]
mod envelope_fuzz;
