//! The writes, each called with a request key: `POST /appointment`, `PUT` and `PATCH
//! /appointments/{sr_no}`, `POST /patient` and `PATCH /patient/{id}` are validated, then queued
//! as writebacks for the simulated sync agent to apply later; and the writeback endpoints that
//! read and withdraw them (`writeback_status`, `GET`/`DELETE /writebacks`).

use jiff::civil::DateTime;
use serde_json::Value;
use tokio::time::Instant;

use crate::sikka::knobs::KnobState;
use crate::sikka::wire::{self, Reply};
use crate::sikka::writeback::{self, Op, Record, parse_date, parse_length, parse_time, text};
use crate::sikka::{WritebackStatusShape, lock};

use super::{Params, Shared, State, param};

/// Applies the queued writebacks that are due (all of them with `at: None`), if the agent is
/// online.
pub(super) fn apply_due(st: &mut State, knobs: &KnobState, at: Option<Instant>, stamp: DateTime) {
    if !knobs.agent_online {
        return;
    }
    let State { db, writebacks, .. } = st;
    for record in writebacks.iter_mut().filter(|w| w.outcome.is_none()) {
        if at.is_some_and(|now| record.due > now) {
            continue;
        }
        record.outcome = Some(writeback::apply(
            record,
            db,
            knobs.writebacks_fail.as_deref(),
            stamp,
        ));
    }
}

impl Shared {
    pub(in crate::sikka) fn apply_writebacks_now(&self) {
        let knobs = lock(&self.knobs).clone();
        let mut st = lock(&self.state);
        apply_due(
            &mut st,
            &knobs,
            None,
            writeback::now_stamp(&self.opts.clock),
        );
    }

    pub(in crate::sikka) fn pending_writebacks(&self) -> usize {
        lock(&self.state)
            .writebacks
            .iter()
            .filter(|w| w.outcome.is_none())
            .count()
    }

    pub(super) fn writeback_status(&self, st: &State, q: &Params, knobs: &KnobState) -> Reply {
        let Some(id) = param(q, "id") else {
            return wire::missing_parameter("id");
        };
        let items: Vec<Value> = st
            .writebacks
            .iter()
            .filter(|w| w.id.to_string() == id)
            .map(|w| w.status_item(&self.opts.office_id))
            .collect();
        let reply = self.list("writeback_status", q, items);
        match (knobs.writeback_status_shape, reply.body) {
            (WritebackStatusShape::Array, Some(body)) => Reply {
                body: Some(Value::Array(vec![body])),
                ..reply
            },
            (_, body) => Reply { body, ..reply },
        }
    }

    pub(super) fn writebacks(&self, st: &State, q: &Params) -> Reply {
        let (Some(start), Some(end)) = (param(q, "startdate"), param(q, "enddate")) else {
            return wire::missing_parameter("startdate and enddate");
        };
        let (Some(start), Some(end)) = (parse_date(start), parse_date(end)) else {
            return wire::unprocessable("startdate and enddate must be yyyy-mm-dd");
        };
        if end < start || (end - start).get_days() > 7 {
            return wire::unprocessable(
                "Date range of startdate and enddate should not be greater than 7 days.",
            );
        }
        let items = st
            .writebacks
            .iter()
            .filter(|w| {
                let day = w.request_time.date();
                start <= day && day <= end && param(q, "id").is_none_or(|id| id == w.id.to_string())
            })
            .map(|w| w.list_item(&self.base_url, &self.opts.office_id))
            .collect();
        self.list("writebacks", q, items)
    }

    pub(super) fn delete_writeback(&self, st: &mut State, q: &Params) -> Reply {
        let Some(id) = param(q, "id") else {
            return wire::missing_parameter("id");
        };
        let Some(at) = st.writebacks.iter().position(|w| w.id.to_string() == id) else {
            return wire::not_found();
        };
        if st.writebacks[at].outcome.is_some() {
            return wire::unprocessable("Only a pending writeback request can be deleted.");
        }
        st.writebacks.remove(at);
        wire::message(
            200,
            "API4006",
            "",
            "Writeback request deleted successfully.",
            "",
        )
    }

    /// Validates a write, answers 412 when asked to check an offline agent, and queues it.
    pub(super) fn write(
        &self,
        st: &mut State,
        knobs: &KnobState,
        body: &[u8],
        kind: WriteKind,
    ) -> Reply {
        let Ok(Value::Object(b)) = serde_json::from_slice::<Value>(body) else {
            return wire::invalid_parameter("The body must be a JSON object");
        };
        let get = |k: &str| text(&b, k);
        let require = |keys: &[&str]| {
            keys.iter()
                .find(|k| get(k).is_none())
                .map(|k| wire::missing_parameter(k))
        };
        let formats = |keys: &[&str]| -> Option<Reply> {
            for k in keys {
                let Some(v) = get(k) else { continue };
                let ok = match *k {
                    "date" | "birthdate" => parse_date(&v).is_some(),
                    "time" => parse_time(&v).is_some(),
                    "length" => parse_length(&v).is_some(),
                    "gender" => ["male", "female", "unknown"].contains(&v.to_lowercase().as_str()),
                    _ => true,
                };
                if !ok {
                    return Some(wire::unprocessable(&format!("{k} is invalid")));
                }
            }
            None
        };
        if let Some(p) = get("practice_id")
            && p != self.opts.practice_id
        {
            return wire::unprocessable(&format!("practice_id {p} does not exist"));
        }
        let (op, method, api) = match kind {
            WriteKind::Book => {
                let required = [
                    "patient_id",
                    "date",
                    "time",
                    "description",
                    "provider_id",
                    "length",
                    "operatory",
                    "practice_id",
                ];
                if let Some(r) = require(&required).or_else(|| formats(&["date", "time", "length"]))
                {
                    return r;
                }
                (Op::Book, "POST", "appointment")
            }
            WriteKind::Update(sr_no) => {
                if let Some(r) = require(&["practice_id", "provider_id"]) {
                    return r;
                }
                if ["date", "time", "length", "operatory", "status"]
                    .iter()
                    .all(|k| get(k).is_none())
                {
                    return wire::missing_parameter("one of date, time, length, operatory, status");
                }
                if let Some(r) = formats(&["date", "time", "length"]) {
                    return r;
                }
                (Op::Update(sr_no.to_owned()), "PUT", "appointments")
            }
            WriteKind::SetStatus(sr_no) => {
                if let Some(r) = require(&["op", "path", "value", "practice_id"]) {
                    return r;
                }
                if get("op").as_deref() != Some("replace") {
                    return wire::unprocessable("op must be replace");
                }
                if !matches!(
                    get("path").as_deref(),
                    Some("/appointment_status" | "/status")
                ) {
                    return wire::unprocessable("path must be /appointment_status");
                }
                (Op::SetStatus(sr_no.to_owned()), "PATCH", "appointments")
            }
            WriteKind::CreatePatient => {
                if let Some(r) = require(&["firstname", "lastname", "provider_id", "practice_id"])
                    .or_else(|| formats(&["birthdate", "gender"]))
                {
                    return r;
                }
                if self.opts.reject_duplicate_patients {
                    let birth = get("birthdate").and_then(|d| parse_date(&d));
                    let (first, last) = (
                        get("firstname").unwrap_or_default(),
                        get("lastname").unwrap_or_default(),
                    );
                    if st.db.patients.iter().any(|p| {
                        p.firstname.eq_ignore_ascii_case(&first)
                            && p.lastname.eq_ignore_ascii_case(&last)
                            && p.birthdate == birth
                    }) {
                        return wire::duplicate();
                    }
                }
                (Op::CreatePatient, "POST", "patients")
            }
            WriteKind::UpdatePatient(id) => {
                let pms = self.opts.pms.to_lowercase();
                if !(pms.contains("orthotrac") || pms.contains("dolphin")) {
                    return wire::method_not_allowed(
                        "PATCH patient is available only for Orthotrac and Dolphin Management PMS",
                    );
                }
                if let Some(r) =
                    require(&["practice_id"]).or_else(|| formats(&["birthdate", "gender"]))
                {
                    return r;
                }
                let updatable = [
                    "firstname",
                    "middlename",
                    "lastname",
                    "preferred_name",
                    "birthdate",
                    "gender",
                    "provider_id",
                    "status",
                ];
                if updatable.iter().all(|k| get(k).is_none()) {
                    return wire::missing_parameter("at least one field to update");
                }
                (Op::UpdatePatient(id.to_owned()), "PATCH", "patient")
            }
        };
        let check_spu = get("check_spu").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if check_spu && !knobs.agent_online {
            return wire::agent_offline();
        }
        let id = st.next_writeback;
        st.next_writeback += 1;
        let created = matches!(op, Op::Book | Op::CreatePatient);
        let patient_update = matches!(op, Op::UpdatePatient(_));
        st.writebacks.push(Record {
            id,
            op,
            method,
            api,
            body: b.clone(),
            practice_id: self.opts.practice_id.clone(),
            request_time: writeback::now_stamp(&self.opts.clock),
            due: Instant::now() + knobs.writeback_delay,
            outcome: None,
        });
        lock(&self.counters).writebacks_accepted += 1;
        let (long, more) = (
            format!("Id:{id}"),
            format!("{}/writeback_status?id={id}", self.base_url),
        );
        if created {
            wire::message(
                201,
                "API2016",
                "New resource created successfully",
                &long,
                &more,
            )
        } else if patient_update {
            wire::message(
                200,
                "API0011",
                "Patient update request logged successfully",
                &long,
                &more,
            )
        } else {
            wire::message(
                200,
                "API0007",
                "Appointment status logged successfully",
                &long,
                &more,
            )
        }
    }
}

pub(super) enum WriteKind<'a> {
    Book,
    Update(&'a str),
    SetStatus(&'a str),
    CreatePatient,
    UpdatePatient(&'a str),
}
