//! Bookings sent and not yet settled, so their outcome can be checked against the patient's own
//! appointments (see `SikkaPractice::writeback`):
//! - one whose answer was lost (the request went out, the connection dropped or timed out before
//!   Sikka answered, so Sikka may have taken it) is not "failed" (a retry would clash with it) and
//!   not "booked" (it may never have arrived): it is pending under an id of the adapter's own
//!   (`req-<n>`) until the appointment shows among the patient's;
//! - one Sikka reports failed because it clashes with the same patient's appointment at that very
//!   time and provider (a twin sent by another task, or before a lost answer) is that booking.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::civil::DateTime;

use crate::pms::{
    Appointment, NewAppointment, PatientId, ProviderId, Writeback, WritebackId, WritebackState,
};

const PREFIX: &str = "req-";

/// What the lost booking asked for: enough to recognise it among the patient's appointments.
#[derive(Debug, Clone)]
pub(super) struct Lost {
    pub patient: PatientId,
    start: DateTime,
    provider: ProviderId,
}

impl Lost {
    /// Whether `appointment` is this booking, applied.
    pub fn is(&self, appointment: &Appointment) -> bool {
        appointment.start == self.start
            && appointment.provider_id == self.provider
            && appointment.status.holds_slot()
    }
}

#[derive(Default)]
pub(super) struct LostBookings {
    next: AtomicU64,
    by_id: Mutex<HashMap<WritebackId, Lost>>,
}

impl LostBookings {
    /// Remembers `booking` and gives the pending writeback that stands for it.
    pub fn remember(&self, booking: &NewAppointment) -> Writeback {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let id = WritebackId::new(format!("{PREFIX}{n}"));
        self.track(&id, booking);
        Writeback {
            id,
            state: WritebackState::Pending,
        }
    }

    /// Follows a booking Sikka accepted as writeback `id`.
    pub fn track(&self, id: &WritebackId, booking: &NewAppointment) {
        let sent = Lost {
            patient: booking.patient_id.clone(),
            start: booking.start,
            provider: booking.provider_id.clone(),
        };
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), sent);
    }

    /// Whether `id` is a lost booking's own id (not one Sikka gave).
    pub fn is_lost(id: &WritebackId) -> bool {
        id.as_str().starts_with(PREFIX)
    }

    /// The booking `id` stands for, if it is one being followed.
    pub fn get(&self, id: &WritebackId) -> Option<Lost> {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    pub fn forget(&self, id: &WritebackId) {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }
}
