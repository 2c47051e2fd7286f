//! Sikka's JSON: the message envelope, the list envelope, and each resource's items (every value
//! a string), projected onto the documented key sets.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use poem::http::StatusCode;
use serde_json::{Map, Value, json};

use super::fields;
use super::seed::{AppointmentRow, Db, OperatoryRow, PatientRow, ProviderRow};

/// An answer before the common headers are added.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// `None`: an empty body (204).
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// `{http_code, http_code_desc, error_code, short_message, long_message, more_information}`.
pub fn message(
    http: u16,
    code: &str,
    short_message: &str,
    long_message: &str,
    more_information: &str,
) -> Reply {
    let status = StatusCode::from_u16(http).expect("valid status");
    Reply::json(
        status,
        json!({
            "http_code": http.to_string(),
            "http_code_desc": code_desc(http),
            "error_code": code,
            "short_message": short_message,
            "long_message": long_message,
            "more_information": more_information,
        }),
    )
}

/// Sikka's `http_code_desc` words.
fn code_desc(http: u16) -> &'static str {
    match http {
        200 => "OK",
        201 => "Created",
        204 => "NoContent",
        400 => "BadRequest",
        401 => "Unauthorized",
        404 => "NotFound",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        415 => "UnsupportedMediaType",
        422 => "Unprocessable",
        429 => "Too Many Requests",
        500 => "InternalServerError",
        503 => "ServiceUnavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

// The documented errors the emulator answers.

pub fn missing_request_key() -> Reply {
    message(
        400,
        "API1004",
        "Missing Parameter",
        "Requestkey is missing/invalid",
        "Please provide correct requestkey",
    )
}

pub fn expired_request_key() -> Reply {
    message(
        400,
        "API1025",
        "Request key expired",
        "Request key is not valid, it is expired.",
        "Please generate new request key and make new request.",
    )
}

pub fn missing_app_id() -> Reply {
    message(
        400,
        "API1001",
        "Missing Parameter",
        "ApplicationID is missing.",
        "Please provide the applicationid.",
    )
}

pub fn missing_app_key() -> Reply {
    message(
        400,
        "API1002",
        "Missing Parameter",
        "ApplicationKey is missing.",
        "Please provide the applicationkey.",
    )
}

pub fn missing_secret_key() -> Reply {
    message(
        400,
        "API1005",
        "Missing Parameter",
        "SecretKey is missing.",
        "Please provide the secretkey.",
    )
}

pub fn wrong_app_credentials() -> Reply {
    message(
        401,
        "API2003",
        "Authentication/Authorization Failed",
        "ID or key is incorrect.",
        "This error can be caused by an incorrect application id , application key.",
    )
}

pub fn practice_not_authorized() -> Reply {
    message(
        401,
        "API2007",
        "Authentication/Authorization Failed",
        "You are not authorized to access practice details with Sikka API.",
        "This error can be caused when you try to access practice details not accessible by you. \
         If you want to access this practice's details with Sikka API contact practice and ask \
         to allow access.",
    )
}

/// 400 `API1020`: a required parameter is missing; `what` names it.
pub fn missing_parameter(what: &str) -> Reply {
    message(
        400,
        "API1020",
        "Missing Parameter",
        "One of the parameter is missing.",
        &format!("Please provide all the parameters in syntax of service. Missing: {what}"),
    )
}

/// 400 `API1026`: a parameter is missing or invalid; `what` says which.
pub fn invalid_parameter(what: &str) -> Reply {
    message(
        400,
        "API1026",
        "Missing/Invalid Parameter",
        "One of the parameter is missing or invalid.",
        what,
    )
}

/// 422 `API2019`: the request's values cannot be processed.
pub fn unprocessable(what: &str) -> Reply {
    message(
        422,
        "API2019",
        "Unprocessable",
        "The request was unable to be processed due to it containing invalid parameters.",
        what,
    )
}

pub fn not_found() -> Reply {
    message(
        404,
        "API2009",
        "Resource not found",
        "The resource you requested does not exist.",
        "The resource you requested does not exist.",
    )
}

pub fn method_not_allowed(what: &str) -> Reply {
    message(
        405,
        "API2014",
        "Method not allowed for the resource",
        "Requested method not allowed for the resource",
        what,
    )
}

pub fn overloaded() -> Reply {
    message(
        503,
        "API2002",
        "Try again later.",
        "The Sikka APIs are up, but overloaded with requests. Try again later.",
        "",
    )
}

/// 429 over the per-minute limit. Sikka documents only the status and the `X-Rate-Limit-*`
/// headers for this case, and no error code: `API2011`/`API2012` are the daily caps, which a
/// client must not wait out, so the envelope carries none.
pub fn too_many_requests(limit: u32, reset_secs: u64) -> Reply {
    message(
        429,
        "",
        "Request limit exceeded",
        &format!("Rate limit of {limit} requests per 60 seconds exceeded"),
        &format!("Please retry after {reset_secs} second(s)."),
    )
}

pub fn duplicate() -> Reply {
    message(
        409,
        "API2013",
        "Resource already exists",
        "You attempted to do something which would leave a resource in an inconsistent state, \
         such as create a resource with an already taken name or id.",
        "Please check name or id and resubmit the request again.",
    )
}

/// 412 `API2017`, verbatim from the writeback guide (its `log_message` and `Preconditon`
/// spellings included).
pub fn agent_offline() -> Reply {
    Reply::json(
        StatusCode::PRECONDITION_FAILED,
        json!({
            "http_code": "412",
            "http_code_desc": "Preconditon Failed",
            "error_code": "API2017",
            "short_message": "The server does not meet one of the preconditions that the requester put on the request.",
            "log_message": "Sikka platform utility is offline",
            "more_information": "--",
        }),
    )
}

/// `Wed, 21 Aug 2019 17:19:33 GMT`.
pub fn http_date(t: Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// `2020-09-23T04:00:28`: Sikka's zone-less date-time.
pub fn sikka_datetime(t: DateTime) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// `2020-09-29T00:00:00`.
pub fn sikka_date(d: Date) -> String {
    sikka_datetime(d.to_datetime(Time::midnight()))
}

/// `10:30`.
pub fn hhmm(t: Time) -> String {
    t.strftime("%H:%M").to_string()
}

/// Page `offset` (a page number) of `limit` rows of `items`, in the list envelope; 204 when the
/// page is empty.
pub fn page(base_url: &str, api: &str, offset: usize, limit: usize, items: Vec<Value>) -> Reply {
    let total = items.len();
    let start = offset.saturating_mul(limit);
    if total == 0 || start >= total {
        return Reply::no_content();
    }
    let last = (total - 1) / limit;
    let link = |n: usize| format!("{base_url}/{api}?offset={n}&limit={limit}");
    let started = std::time::Instant::now();
    let rows: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    Reply::json(
        StatusCode::OK,
        json!({
            "offset": offset.to_string(),
            "limit": limit.to_string(),
            "total_count": total.to_string(),
            "execution_time": (started.elapsed().as_millis() + 3).to_string(),
            "pagination": {
                "first": link(0),
                "previous": if offset == 0 { String::new() } else { link(offset - 1) },
                "current": link(offset),
                "next": if offset >= last { String::new() } else { link(offset + 1) },
                "last": link(last),
            },
            "items": rows,
        }),
    )
}

/// Which keys of an item to show: `fields=get_all` shows every key of the get_all example;
/// `fields=a,b` adds `a` and `b` to the defaults; `lightweight=true` shows only `fields`.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    pub get_all: bool,
    pub extra: Vec<String>,
    pub lightweight: bool,
}

impl Projection {
    pub fn parse(fields: Option<&str>, lightweight: Option<&str>) -> Self {
        let list: Vec<String> = fields
            .unwrap_or_default()
            .split(',')
            .map(|f| f.trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect();
        Self {
            get_all: list.iter().any(|f| f.eq_ignore_ascii_case("get_all")),
            lightweight: lightweight.is_some_and(|l| l.eq_ignore_ascii_case("true"))
                && !list.is_empty(),
            extra: list,
        }
    }

    /// `full` (every key the emulator knows) cut down to what was asked for.
    pub fn apply(&self, full: &Map<String, Value>, default: &[&str], all: &[&str]) -> Value {
        let mut out = Map::new();
        let mut put = |k: &str| {
            if let Some(v) = full.get(k) {
                out.insert(k.to_owned(), v.clone());
            }
        };
        if self.lightweight {
            for k in &self.extra {
                put(k);
            }
        } else if self.get_all {
            all.iter().for_each(|k| put(k));
        } else {
            default.iter().for_each(|k| put(k));
            for k in &self.extra {
                put(k);
            }
        }
        Value::Object(out)
    }
}

fn obj(pairs: Vec<(&str, String)>) -> Map<String, Value> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect()
}

/// Every key any documented `patients` example shows; unknown facts are `""`.
pub fn patient_item(
    base: &str,
    practice_id: &str,
    cust_id: &str,
    p: &PatientRow,
    db: &Db,
) -> Map<String, Value> {
    let guarantor = db.patient(&p.guarantor_id);
    let practice = format!("{base}/practices/{practice_id}");
    let mut m = obj(vec![
        ("href", format!("{practice}/patients/{}", p.patient_id)),
        ("patient_id", p.patient_id.clone()),
        ("guarantor_id", p.guarantor_id.clone()),
        ("firstname", p.firstname.clone()),
        ("middlename", p.middlename.clone()),
        ("lastname", p.lastname.clone()),
        ("preferred_name", p.preferred_name.clone()),
        ("salutation", String::new()),
        ("birthdate", p.birthdate.map(sikka_date).unwrap_or_default()),
        ("status", p.status.clone()),
        ("gender", p.gender.clone()),
        ("address_line1", p.address_line1.clone()),
        ("address_line2", String::new()),
        ("city", p.city.clone()),
        ("state", p.state.clone()),
        ("zipcode", p.zipcode.clone()),
        ("country", "USA".into()),
        ("homephone", p.homephone.clone()),
        ("workphone", p.workphone.clone()),
        ("cell", p.cell.clone()),
        ("other_phone", String::new()),
        ("email", p.email.clone()),
        ("provider_id", p.provider_id.clone()),
        (
            "provider_href",
            format!("{practice}/providers/{}", p.provider_id),
        ),
        ("practice_id", practice_id.to_owned()),
        ("practice_href", practice.clone()),
        (
            "appointment_href",
            format!("{practice}/appointments?patient_id={}", p.patient_id),
        ),
        (
            "guarantor_href",
            format!("{practice}/guarantors/{}", p.guarantor_id),
        ),
        (
            "primary_insurance_company_href",
            format!("{practice}/insurance_companies/"),
        ),
        ("fee_no", "0".into()),
        (
            "guarantor_first_name",
            guarantor.map(|g| g.firstname.clone()).unwrap_or_default(),
        ),
        (
            "guarantor_last_name",
            guarantor.map(|g| g.lastname.clone()).unwrap_or_default(),
        ),
        ("created_date", sikka_date(p.created_date)),
        ("cust_id", cust_id.to_owned()),
        ("guarantor_patient_id", p.guarantor_id.clone()),
        ("ui_patient_id", p.patient_id.clone()),
        ("chart_number", p.patient_id.clone()),
        ("profile_status", p.status.clone()),
    ]);
    fill_blank(&mut m, fields::PATIENTS_ALL);
    fill_blank(&mut m, fields::PATIENTS);
    m
}

pub fn appointment_item(
    base: &str,
    practice_id: &str,
    cust_id: &str,
    a: &AppointmentRow,
    db: &Db,
) -> Map<String, Value> {
    let practice = format!("{base}/practices/{practice_id}");
    let patient = db.patient(&a.patient_id);
    let guarantor_id = patient.map(|p| p.guarantor_id.clone()).unwrap_or_default();
    let guarantor = db.patient(&guarantor_id);
    let cancelled = a.status == super::STATUS_CANCELLED;
    let mut m = obj(vec![
        ("href", format!("{practice}/appointments/{}", a.sr_no)),
        (
            "patient_href",
            format!("{practice}/patients/{}", a.patient_id),
        ),
        ("patient_id", a.patient_id.clone()),
        ("guarantor_id", guarantor_id.clone()),
        ("status", a.status.clone()),
        ("provider_id", a.provider_id.clone()),
        (
            "provider_href",
            format!("{practice}/providers/{}", a.provider_id),
        ),
        ("practice_id", practice_id.to_owned()),
        ("practice_href", practice.clone()),
        (
            "guarantor_href",
            format!("{practice}/guarantors/{guarantor_id}"),
        ),
        ("amount", "0.0000".into()),
        ("note", a.note.clone()),
        ("appointment_sr_no", a.sr_no.to_string()),
        ("operatory", a.operatory.clone()),
        ("date", sikka_date(a.date)),
        ("time", hhmm(a.time)),
        ("length", a.length.to_string()),
        ("description", a.description.clone()),
        ("last_changed_date", sikka_datetime(a.last_changed)),
        ("appointment_made_date", sikka_date(a.made_date)),
        ("type", a.kind.clone()),
        (
            "patient_name",
            patient
                .map(|p| format!("{} {}", p.firstname, p.lastname))
                .unwrap_or_default(),
        ),
        (
            "guarantor_name",
            guarantor
                .map(|g| format!("{} {}", g.firstname, g.lastname))
                .unwrap_or_default(),
        ),
        ("cancelled", if cancelled { "True" } else { "False" }.into()),
        (
            "is_confirmed",
            if a.status == super::STATUS_CONFIRMED {
                "True"
            } else {
                "False"
            }
            .into(),
        ),
        ("cust_id", cust_id.to_owned()),
        ("original_provider", a.provider_id.clone()),
        ("location", practice_id.to_owned()),
        ("is_companion", "False".into()),
        ("sooner_if_possible", "False".into()),
    ]);
    for n in 1..=7 {
        m.insert(format!("procedure_code{n}_amount"), "0".into());
        m.insert(format!("procedure_code{n}_time"), "0".into());
    }
    fill_blank(&mut m, fields::APPOINTMENTS_ALL);
    fill_blank(&mut m, fields::APPOINTMENTS);
    m
}

pub fn provider_item(
    base: &str,
    practice_id: &str,
    cust_id: &str,
    p: &ProviderRow,
) -> Map<String, Value> {
    let practice = format!("{base}/practices/{practice_id}");
    let initials: String = [&p.firstname, &p.lastname]
        .iter()
        .filter_map(|n| n.chars().next())
        .collect();
    let mut m = obj(vec![
        ("href", format!("{practice}/providers/{}", p.provider_id)),
        ("provider_id", p.provider_id.clone()),
        ("firstname", p.firstname.clone()),
        ("lastname", p.lastname.clone()),
        ("city", "Los Angeles".into()),
        ("state", "CA".into()),
        ("country", "USA".into()),
        ("provider_type", "Provider".into()),
        ("specialty", p.specialty.clone()),
        ("speciality", p.specialty.clone()),
        ("practice_id", practice_id.to_owned()),
        ("practice_href", practice.clone()),
        (
            "patient_href",
            format!("{practice}/patients?provider_id={}", p.provider_id),
        ),
        (
            "appointment_href",
            format!("{practice}/appointments?provider_id={}", p.provider_id),
        ),
        ("status", p.status.clone()),
        ("initials", initials),
        ("is_hidden", "False".into()),
        ("cust_id", cust_id.to_owned()),
        ("is_organization", "False".into()),
        ("is_user", "false".into()),
    ]);
    fill_blank(&mut m, fields::PROVIDERS_ALL);
    fill_blank(&mut m, fields::PROVIDERS);
    m
}

pub fn operatory_item(practice_id: &str, cust_id: &str, o: &OperatoryRow) -> Map<String, Value> {
    obj(vec![
        ("provider_id", String::new()),
        ("practice_id", practice_id.to_owned()),
        ("operatory", o.operatory.clone()),
        ("cust_id", cust_id.to_owned()),
        ("is_hidden", if o.hidden { "T" } else { "F" }.into()),
        ("abbreviation", o.name.clone()),
    ])
}

/// Adds `""` for every key in `keys` that `m` lacks.
pub fn fill_blank(m: &mut Map<String, Value>, keys: &[&str]) {
    for k in keys {
        m.entry((*k).to_owned())
            .or_insert_with(|| Value::String(String::new()));
    }
}
