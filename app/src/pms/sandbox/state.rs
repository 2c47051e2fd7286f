//! The sandbox's mutable records and its writeback queue. Writes are queued with a due time and
//! applied lazily, in order, by the next call that finds them due; a booking or move that would
//! now double-book a provider or operatory fails at that point, as a real PMS would refuse it.

use std::collections::{BTreeMap, HashMap, VecDeque};

use jiff::civil::{Date, DateTime};
use tokio::time::Instant;

use crate::pms::{
    Appointment, AppointmentId, AppointmentStatus, NewAppointment, NewPatient, Patient, PatientId,
    PatientUpdate, Phi, Reschedule, Writeback, WritebackId, WritebackState,
};

/// A write accepted but not yet applied.
pub(super) enum Op {
    Book(NewAppointment),
    Reschedule(AppointmentId, Reschedule),
    Cancel(AppointmentId),
    CreatePatient(NewPatient),
    UpdatePatient(PatientId, PatientUpdate),
}

struct Queued {
    due: Instant,
    id: WritebackId,
    op: Op,
}

pub(super) struct State {
    patients: Vec<Patient>,
    patient_index: HashMap<PatientId, usize>,
    /// Appointments by the date they start on, each day sorted by start.
    days: BTreeMap<Date, Vec<Appointment>>,
    appointment_days: HashMap<AppointmentId, Date>,
    next_appointment: u64,
    next_writeback: u64,
    queue: VecDeque<Queued>,
    writebacks: HashMap<WritebackId, WritebackState>,
}

impl State {
    pub(super) fn new(
        patients: Vec<Patient>,
        appointments: Vec<Appointment>,
        next_appointment: u64,
    ) -> Self {
        let mut state = Self {
            patient_index: HashMap::new(),
            patients: Vec::new(),
            days: BTreeMap::new(),
            appointment_days: HashMap::new(),
            next_appointment,
            next_writeback: 1,
            queue: VecDeque::new(),
            writebacks: HashMap::new(),
        };
        for patient in patients {
            state.add_patient(patient);
        }
        for appointment in appointments {
            state.insert(appointment);
        }
        state
    }

    pub(super) fn patients(&self) -> &[Patient] {
        &self.patients
    }

    pub(super) fn patient(&self, id: &PatientId) -> Option<&Patient> {
        self.patient_index.get(id).map(|&i| &self.patients[i])
    }

    pub(super) fn appointment(&self, id: &AppointmentId) -> Option<&Appointment> {
        let day = self.days.get(self.appointment_days.get(id)?)?;
        day.iter().find(|a| &a.id == id)
    }

    /// Appointments starting in `[from, to)`, sorted by start.
    pub(super) fn between(&self, from: DateTime, to: DateTime) -> Vec<Appointment> {
        if from >= to {
            return Vec::new();
        }
        self.days
            .range(from.date()..=to.date())
            .flat_map(|(_, day)| day.iter())
            .filter(|a| a.start >= from && a.start < to)
            .cloned()
            .collect()
    }

    pub(super) fn all_appointments(&self) -> impl Iterator<Item = &Appointment> {
        self.days.values().flatten()
    }

    pub(super) fn writeback(&self, id: &WritebackId) -> Option<Writeback> {
        self.writebacks.get(id).map(|state| Writeback {
            id: id.clone(),
            state: state.clone(),
        })
    }

    /// Queues `op`, to be applied at `due`; returns the pending writeback.
    pub(super) fn enqueue(&mut self, due: Instant, op: Op) -> Writeback {
        let id = WritebackId::new(format!("WB-{}", self.next_writeback));
        self.next_writeback += 1;
        self.writebacks.insert(id.clone(), WritebackState::Pending);
        self.queue.push_back(Queued {
            due,
            id: id.clone(),
            op,
        });
        Writeback {
            id,
            state: WritebackState::Pending,
        }
    }

    /// Applies every queued write due at `now`, oldest first.
    pub(super) fn apply_due(&mut self, now: Instant) {
        while self.queue.front().is_some_and(|q| q.due <= now) {
            let Some(queued) = self.queue.pop_front() else {
                break;
            };
            let outcome = match self.apply(queued.op) {
                Ok(created_id) => WritebackState::Applied { created_id },
                Err(reason) => WritebackState::Failed { reason },
            };
            self.writebacks.insert(queued.id, outcome);
        }
    }

    fn apply(&mut self, op: Op) -> Result<Option<String>, String> {
        match op {
            Op::Book(new) => {
                let appointment = Appointment {
                    id: AppointmentId::new(self.next_appointment.to_string()),
                    patient_id: new.patient_id,
                    provider_id: new.provider_id,
                    operatory_id: Some(new.operatory_id),
                    start: new.start,
                    length_minutes: new.length_minutes,
                    status: AppointmentStatus::Scheduled,
                    description: Some(new.description),
                };
                if self.clashes(&appointment) {
                    return Err("the time is no longer free for that provider or operatory".into());
                }
                self.next_appointment += 1;
                let id = appointment.id.to_string();
                self.insert(appointment);
                Ok(Some(id))
            }
            Op::Reschedule(id, to) => {
                let mut moved = self
                    .appointment(&id)
                    .cloned()
                    .ok_or("the appointment no longer exists")?;
                if !moved.status.holds_slot() {
                    return Err("the appointment was cancelled".into());
                }
                moved.provider_id = to.provider_id;
                moved.operatory_id = to.operatory_id.or(moved.operatory_id);
                moved.start = to.start;
                moved.length_minutes = to.length_minutes;
                if self.clashes(&moved) {
                    return Err("the new time is not free for that provider or operatory".into());
                }
                self.remove(&id);
                self.insert(moved);
                Ok(None)
            }
            Op::Cancel(id) => {
                let day = self
                    .appointment_days
                    .get(&id)
                    .ok_or("the appointment no longer exists")?;
                let day = self
                    .days
                    .get_mut(day)
                    .ok_or("the appointment no longer exists")?;
                let appointment = day
                    .iter_mut()
                    .find(|a| a.id == id)
                    .ok_or("the appointment no longer exists")?;
                appointment.status = AppointmentStatus::Cancelled;
                Ok(None)
            }
            Op::CreatePatient(new) => {
                let id = PatientId::new(self.next_patient_id().to_string());
                self.add_patient(Patient {
                    id: id.clone(),
                    first_name: new.first_name,
                    last_name: new.last_name,
                    preferred_name: None,
                    birth_date: Some(new.birth_date),
                    phones: Phi::new(vec![new.phone.into_inner()]),
                    email: new.email,
                    guarantor_id: Some(id.clone()),
                    provider_id: Some(new.provider_id),
                    active: true,
                });
                Ok(Some(id.to_string()))
            }
            Op::UpdatePatient(id, update) => {
                let &index = self
                    .patient_index
                    .get(&id)
                    .ok_or("the patient no longer exists")?;
                let patient = &mut self.patients[index];
                if let Some(phone) = update.phone {
                    let phone = phone.into_inner();
                    let mut phones = vec![phone.clone()];
                    phones.extend(
                        patient
                            .phones
                            .expose()
                            .iter()
                            .filter(|p| **p != phone)
                            .cloned(),
                    );
                    patient.phones = Phi::new(phones);
                }
                if update.email.is_some() {
                    patient.email = update.email;
                }
                if update.preferred_name.is_some() {
                    patient.preferred_name = update.preferred_name;
                }
                Ok(None)
            }
        }
    }

    /// Whether `a` overlaps another slot-holding appointment of its provider or operatory.
    fn clashes(&self, a: &Appointment) -> bool {
        let (start, end) = (a.start, a.end());
        // Look one day back for appointments that run past midnight.
        let from = start.date().yesterday().unwrap_or(start.date());
        self.days
            .range(from..=end.date())
            .flat_map(|(_, d)| d.iter())
            .any(|b| {
                b.id != a.id
                    && b.status.holds_slot()
                    && b.start < end
                    && start < b.end()
                    && (b.provider_id == a.provider_id
                        || (a.operatory_id.is_some() && b.operatory_id == a.operatory_id))
            })
    }

    pub(super) fn next_patient_id(&self) -> u64 {
        self.patients
            .iter()
            .filter_map(|p| p.id.as_str().parse::<u64>().ok())
            .max()
            .map_or(1, |max| max + 1)
    }

    fn add_patient(&mut self, patient: Patient) {
        self.patient_index
            .insert(patient.id.clone(), self.patients.len());
        self.patients.push(patient);
    }

    fn insert(&mut self, appointment: Appointment) {
        let date = appointment.start.date();
        self.appointment_days.insert(appointment.id.clone(), date);
        let day = self.days.entry(date).or_default();
        let at = day.partition_point(|a| a.start <= appointment.start);
        day.insert(at, appointment);
    }

    fn remove(&mut self, id: &AppointmentId) {
        if let Some(date) = self.appointment_days.remove(id)
            && let Some(day) = self.days.get_mut(&date)
        {
            day.retain(|a| &a.id != id);
        }
    }
}
