//! The GET data endpoints a receptionist reads, each called with a request key: `practices`,
//! `patients`, `appointments`, `providers`, `operatories`, `practice_schedule`,
//! `appointment_statuses` and `practice_variables`, filtered by their documented parameters and
//! projected onto the documented key sets.

use gateway::pms::sandbox::WEEKDAYS;
use jiff::ToSpan;
use jiff::civil::Date;
use serde_json::{Map, Value, json};

use super::{Params, Shared, param};
use crate::sikka::seed::{APPOINTMENT_STATUSES, APPOINTMENT_TYPES, Db};
use crate::sikka::wire::{self, Reply};
use crate::sikka::writeback::parse_date;
use crate::sikka::{PhoneFilter, fields};

impl Shared {
    pub(super) fn practices(&self, db: &Db, q: &Params) -> Reply {
        let o = &self.opts;
        let practice = format!("{}/practices/{}", self.base_url, o.practice_id);
        let name = db.practice_name.clone();
        let full = obj_of(json!({
            "href": practice,
            "patient_href": format!("{practice}/patients"),
            "address_line1": "100 Main Street",
            "address_line2": "Suite 200",
            "city": "Los Angeles",
            "state": "CA",
            "zipcode": "90012",
            "email": "",
            "provider_href": format!("{practice}/providers"),
            "practice_id": o.practice_id,
            "appointment_href": format!("{practice}/appointments"),
            "guarantor_href": format!("{practice}/guarantors"),
            "country": "USA",
            "transaction_href": format!("{practice}/transactions"),
            "description": "",
            "name": name,
            "cust_id": o.cust_id,
            "national_provider_identifier": "",
            "phone": "5105550198",
            "website": "",
            "is_main_office": "True",
        }));
        let items = if self.ours(q) {
            vec![Self::projection(q).apply(&full, fields::PRACTICES, fields::PRACTICES_ALL)]
        } else {
            Vec::new()
        };
        self.list("practices", q, items)
    }

    pub(super) fn patients(&self, db: &Db, q: &Params) -> Reply {
        let proj = Self::projection(q);
        let ci = |name: &str, value: &str| {
            param(q, name).is_none_or(|v| v.eq_ignore_ascii_case(value.trim()))
        };
        let phone_eq = |v: &str, stored: &str| match self.opts.phone_filter {
            PhoneFilter::Exact => !stored.is_empty() && v == stored,
            PhoneFilter::Digits => !stored.is_empty() && last10(v) == last10(stored),
        };
        let phone = |name: &str, stored: &[&str]| {
            param(q, name).is_none_or(|v| stored.iter().any(|s| phone_eq(v, s)))
        };
        let search = param(q, "search").map(str::to_lowercase);
        let mut rows: Vec<_> = db
            .patients
            .iter()
            .filter(|p| {
                self.ours(q)
                    && ci("patient_id", &p.patient_id)
                    && ci("guarantor_id", &p.guarantor_id)
                    && ci("provider_id", &p.provider_id)
                    && ci("firstname", &p.firstname)
                    && ci("lastname", &p.lastname)
                    && ci("email", &p.email)
                    && ci("status", &p.status)
                    && phone("cell", &[&p.cell])
                    && phone("homephone", &[&p.homephone])
                    && phone("workphone", &[&p.workphone])
                    && phone("phone", &[&p.cell, &p.homephone, &p.workphone])
                    && search.as_ref().is_none_or(|s| {
                        [
                            &p.firstname,
                            &p.lastname,
                            &p.middlename,
                            &p.email,
                            &p.city,
                            &p.state,
                            &p.zipcode,
                            &p.homephone,
                            &p.workphone,
                            &p.cell,
                        ]
                        .iter()
                        .any(|f| f.to_lowercase().contains(s.as_str()))
                    })
            })
            .collect();
        rows.sort_by_key(|p| {
            (
                p.patient_id.parse::<u64>().unwrap_or(u64::MAX),
                p.patient_id.clone(),
            )
        });
        let (o, base) = (&self.opts, &self.base_url);
        let items = rows
            .into_iter()
            .map(|p| {
                let full = wire::patient_item(base, &o.practice_id, &o.cust_id, p, db);
                proj.apply(&full, fields::PATIENTS, fields::PATIENTS_ALL)
            })
            .collect();
        self.list("patients", q, items)
    }

    pub(super) fn appointments(&self, db: &Db, q: &Params) -> Reply {
        let date = |name: &'static str| param(q, name).map(move |d| parse_date(d).ok_or(name));
        let (from, to) = match (date("startdate").transpose(), date("enddate").transpose()) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(n), _) | (_, Err(n)) => {
                return wire::unprocessable(&format!("{n} must be yyyy-mm-dd"));
            }
        };
        let ci = |name: &str, value: &str| {
            param(q, name).is_none_or(|v| v.eq_ignore_ascii_case(value.trim()))
        };
        let proj = Self::projection(q);
        let mut rows: Vec<_> = db
            .appointments
            .iter()
            .filter(|a| {
                self.ours(q)
                    && from.is_none_or(|f| a.date >= f)
                    && to.is_none_or(|t| a.date <= t)
                    && ci("appointment_sr_no", &a.sr_no.to_string())
                    && ci("patient_id", &a.patient_id)
                    && ci("provider_id", &a.provider_id)
                    && ci("status", &a.status)
                    && ci("operatory", &a.operatory)
                    && ci("type", &a.kind)
            })
            .collect();
        rows.sort_by_key(|a| a.sr_no);
        let (o, base) = (&self.opts, &self.base_url);
        let items = rows
            .into_iter()
            .map(|a| {
                let full = wire::appointment_item(base, &o.practice_id, &o.cust_id, a, db);
                proj.apply(&full, fields::APPOINTMENTS, fields::APPOINTMENTS_ALL)
            })
            .collect();
        self.list("appointments", q, items)
    }

    pub(super) fn providers(&self, db: &Db, q: &Params) -> Reply {
        let proj = Self::projection(q);
        let ci = |name: &str, value: &str| {
            param(q, name).is_none_or(|v| v.eq_ignore_ascii_case(value.trim()))
        };
        let o = &self.opts;
        let items = db
            .providers
            .iter()
            .filter(|p| {
                self.ours(q)
                    && ci("provider_id", &p.provider_id)
                    && ci("status", &p.status)
                    && ci("provider_type", "Provider")
            })
            .map(|p| {
                let full = wire::provider_item(&self.base_url, &o.practice_id, &o.cust_id, p);
                proj.apply(&full, fields::PROVIDERS, fields::PROVIDERS_ALL)
            })
            .collect();
        self.list("providers", q, items)
    }

    pub(super) fn operatories(&self, db: &Db, q: &Params) -> Reply {
        let Some(cust_id) = param(q, "cust_id") else {
            return wire::missing_parameter("cust_id");
        };
        let hidden = param(q, "is_hidden").or_else(|| param(q, "is_hidded"));
        let o = &self.opts;
        let mut rows: Vec<_> = db
            .operatories
            .iter()
            .filter(|op| {
                cust_id == o.cust_id
                    && self.ours(q)
                    && hidden
                        .is_none_or(|h| h.eq_ignore_ascii_case(if op.hidden { "T" } else { "F" }))
            })
            .collect();
        rows.sort_by(|a, b| a.operatory.cmp(&b.operatory));
        let items = rows
            .into_iter()
            .map(|op| Value::Object(wire::operatory_item(&o.practice_id, &o.cust_id, op)))
            .collect();
        self.list("operatories", q, items)
    }

    /// One row per week (starting Sunday) from five weeks back to thirteen weeks ahead, for the
    /// practice as a whole and for each provider.
    pub(super) fn practice_schedule(&self, db: &Db, q: &Params) -> Reply {
        let o = &self.opts;
        let on = match param(q, "date").map(|d| parse_date(d).ok_or(())) {
            None => None,
            Some(Ok(d)) => Some(d),
            Some(Err(())) => return wire::unprocessable("date must be yyyy-mm-dd"),
        };
        let first = week_start(db.today - 35.days());
        let last = week_start(db.today + 91.days());
        let mut resources = vec![("Practice".to_owned(), o.practice_id.clone())];
        resources.extend(
            db.providers
                .iter()
                .map(|p| ("Provider".to_owned(), p.provider_id.clone())),
        );
        resources.sort_by(|a, b| a.1.cmp(&b.1));
        let proj = Self::projection(q);
        let practice = format!("{}/practices/{}", self.base_url, o.practice_id);
        let mut items = Vec::new();
        for (kind, id) in &resources {
            let wanted = param(q, "resource_type").is_none_or(|t| t.eq_ignore_ascii_case(kind))
                && param(q, "resource_id").is_none_or(|r| r == id)
                && self.ours(q);
            if !wanted {
                continue;
            }
            let mut week = first;
            while week <= last {
                let next = week + 7.days();
                if on.is_none_or(|d| week <= d && d < next) {
                    let mut full = obj_of(json!({
                        "href": format!("{practice}/practice_schedule/{id}"),
                        "practice_id": o.practice_id,
                        "practice_href": practice,
                        "date": wire::sikka_date(week),
                        "cust_id": o.cust_id,
                        "resource_type": kind,
                        "resource_id": id,
                    }));
                    // Sunday first, as Sikka's rows are; the schedule is Monday first.
                    for monday_first in (0..7).map(|i| (i + 6) % 7) {
                        let day = WEEKDAYS[monday_first];
                        let blocks = if kind == "Practice" {
                            db.practice_blocks(monday_first)
                        } else {
                            db.provider_blocks(monday_first, id)
                        };
                        for n in 0..3 {
                            let (s, e) = blocks
                                .get(n)
                                .map(|(s, e)| (wire::hhmm(*s), wire::hhmm(*e)))
                                .unwrap_or_default();
                            full.insert(format!("{day}_start_{}", n + 1), s.into());
                            full.insert(format!("{day}_end_{}", n + 1), e.into());
                        }
                        full.insert(format!("{day}_holiday"), "False".into());
                    }
                    items.push(proj.apply(
                        &full,
                        fields::PRACTICE_SCHEDULE,
                        fields::PRACTICE_SCHEDULE_ALL,
                    ));
                }
                week = next;
            }
        }
        self.list("practice_schedule", q, items)
    }

    pub(super) fn appointment_statuses(&self, q: &Params) -> Reply {
        let practice = format!("{}/practices/{}", self.base_url, self.opts.practice_id);
        let items = APPOINTMENT_STATUSES
            .iter()
            .filter(|_| self.ours(q))
            .map(|s| {
                json!({
                    "href": format!("{practice}/appointment_statuses/{s}"),
                    "status": s,
                    "practice_id": self.opts.practice_id,
                    "practice_href": practice,
                })
            })
            .collect();
        self.list("appointment_statuses", q, items)
    }

    pub(super) fn practice_variables(&self, q: &Params) -> Reply {
        let practice = format!("{}/practices/{}", self.base_url, self.opts.practice_id);
        let proj = Self::projection(q);
        let vars = APPOINTMENT_STATUSES
            .iter()
            .map(|v| ("Appointment Status", *v))
            .chain(APPOINTMENT_TYPES.iter().map(|v| ("Appointment Type", *v)));
        let items = vars
            .filter(|(service, _)| {
                self.ours(q)
                    && param(q, "service_name").is_none_or(|s| s.eq_ignore_ascii_case(service))
            })
            .map(|(service, value)| {
                let full = obj_of(json!({
                    "href": format!("{practice}/practice_variables"),
                    "practice_id": self.opts.practice_id,
                    "practice_href": practice,
                    "description": value,
                    "service_name": service,
                    "value": value,
                    "service_item": "",
                }));
                proj.apply(
                    &full,
                    fields::PRACTICE_VARIABLES,
                    fields::PRACTICE_VARIABLES_ALL,
                )
            })
            .collect();
        self.list("practice_variables", q, items)
    }
}

/// The last ten digits, for lenient phone comparison.
fn last10(s: &str) -> String {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    digits[digits.len().saturating_sub(10)..].to_owned()
}

fn week_start(d: Date) -> Date {
    d - i64::from(d.weekday().to_sunday_zero_offset()).days()
}

fn obj_of(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
