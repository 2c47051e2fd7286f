//! Tenancy: which practice a call belongs to, each practice's profile (time zone, transfer
//! number, booking policy) and the system that holds its records.

mod profile;

pub use profile::{BookingPolicy, PracticeProfile};
