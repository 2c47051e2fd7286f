//! Sikka's support APIs, application-level (`App-Id`/`App-Key`, checked by the caller):
//! `GET /health_check` (the office's agent, SPC: error flag and description, inactive, refresh
//! times) and `GET /data_sync_status` (`refresh` / `not refresh`, when data last arrived), in
//! the list envelope with every field a string, as the documented examples show. The knobs
//! change what they say: the agent not refreshed, an SPC error, the office not listed.

use serde_json::{Value, json};

use super::{Params, Shared, param};
use crate::sikka::knobs::KnobState;
use crate::sikka::wire::Reply;

/// `10/3/2023 11:36:12 PM`, as `health_check` writes its times.
fn us_time(t: jiff::civil::DateTime) -> String {
    t.strftime("%-m/%-d/%Y %-I:%M:%S %p").to_string()
}

impl Shared {
    /// The offices this emulator lists: its own, unless a knob hides it.
    fn listed(&self, q: &Params, knobs: &KnobState) -> bool {
        !knobs.office_unlisted && param(q, "office_id").is_none_or(|o| o == self.opts.office_id)
    }

    fn last_sync(&self, knobs: &KnobState) -> jiff::civil::DateTime {
        let now = crate::sikka::writeback::now_stamp(&self.opts.clock);
        let ago = if knobs.sync_status.is_some() {
            jiff::SignedDuration::from_hours(30)
        } else {
            jiff::SignedDuration::from_mins(10)
        };
        now.checked_sub(ago).unwrap_or(now)
    }

    pub(super) fn health_check(&self, q: &Params, knobs: &KnobState) -> Reply {
        let o = &self.opts;
        let last = self.last_sync(knobs);
        let (flag, description) = match &knobs.spc_error {
            Some(d) => ("True", d.as_str()),
            None => ("", ""),
        };
        let fields: Vec<(&str, Value)> = vec![
            ("href", json!("")),
            ("practice_id", json!(o.practice_id)),
            ("office_id", json!(o.office_id)),
            ("domain", json!("Dental")),
            ("practice_management_system", json!(o.pms)),
            ("practice_management_system_version", json!("V18.0")),
            ("spc_id", json!("40249")),
            ("refresh_time", json!(us_time(last))),
            ("teamviewer_id", json!("")),
            ("teamviewer_version", json!("")),
            ("spc_version", json!("4.2.1.0")),
            (
                "practice_management_system_version_detected",
                json!("V18.0"),
            ),
            ("practice_management_system_data_path", json!("C:\\PMS")),
            ("financial_management_system", json!("")),
            ("financial_management_system_version", json!("")),
            ("financial_management_system_version_detected", json!("")),
            ("financial_management_system_data_path", json!("")),
            ("spc_schedule_time", json!("1:00 AM")),
            ("spc_schedule_type", json!("Daily")),
            ("spc_schedule_interval", json!("15 Minutes")),
            ("is_spc_update_locked", json!("False")),
            ("spc_update_lock_note", json!("")),
            ("last_spc_updated_checked", json!("")),
            ("is_delta_import_enable", json!("True")),
            ("etl_start", json!(us_time(last))),
            ("etl_end", json!(us_time(last))),
            ("web_upload_start", json!(us_time(last))),
            ("web_upload_end", json!(us_time(last))),
            ("financial_etl_start", json!("")),
            ("financial_etl_end", json!("")),
            ("etl_error_log", json!("")),
            ("etl_error_priority", json!("")),
            ("etl_error_description", json!("")),
            ("etl_cpu_utilization", json!("8.3")),
            ("etl_memory_utilization", json!("128184320")),
            ("financial_error_priority", json!("")),
            ("financial_error_description", json!("")),
            ("financial_etl_cpu_utilization", json!("")),
            ("financial_etl_memory_utilization", json!("")),
            ("local_insert_error_log", json!("")),
            ("local_insert_error_priority", json!("")),
            ("local_insert_cpu_utilization", json!("0")),
            ("local_insert_memory_utilization", json!("0")),
            ("local_upload_error_description", json!("")),
            ("web_upload_error_flag", json!("")),
            ("web_upload_error_priority", json!("")),
            ("web_upload_bandwidth_utilization", json!("2418676")),
            ("web_upload_error_description", json!("")),
            ("upload_to_server", json!(us_time(last))),
            ("upload_to_client", json!(us_time(last))),
            ("spc_error_flag", json!(flag)),
            (
                "spc_error_priority",
                json!(if flag.is_empty() { "" } else { "High" }),
            ),
            ("spc_error_description", json!(description)),
            ("timezone", json!("Pacific Standard Time")),
            ("is_inactive", json!("False")),
            ("etl_version", json!("2.0")),
            ("machine_name", json!("FRONTDESK-PC")),
            ("operating_system", json!("Windows 10 Pro")),
            ("memory", json!("17179869184")),
            ("disk_free_space", json!("120394752000")),
            ("download_speed", json!("94.2")),
        ];
        let item = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
        let items: Vec<Value> = if self.listed(q, knobs) {
            vec![item]
        } else {
            Vec::new()
        };
        self.list("health_check", q, items)
    }

    pub(super) fn data_sync_status(&self, q: &Params, knobs: &KnobState) -> Reply {
        let o = &self.opts;
        let status = knobs.sync_status.as_deref().unwrap_or("refresh");
        let item = json!({
            "status": status,
            "practice_id": o.practice_id,
            "office_id": o.office_id,
            "domain": "Dental",
            "practice_name": "Sunrise Dental",
            "practice_management_system": o.pms,
            "data_insert_date": self.last_sync(knobs).strftime("%Y-%m-%dT%H:%M:%S").to_string(),
            "practice_management_system_version": "V18.0",
            "practice_management_system_refresh_date_time_zone": "Pacific Standard Time",
        });
        let wanted = param(q, "status").is_none_or(|s| s.eq_ignore_ascii_case(status));
        let items: Vec<Value> = if self.listed(q, knobs) && wanted {
            vec![item]
        } else {
            Vec::new()
        };
        self.list("data_sync_status", q, items)
    }
}
