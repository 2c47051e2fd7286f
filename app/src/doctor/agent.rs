//! The `sync_agent` check's verdict from Sikka's answers: `data_sync_status` says whether the
//! practice's Sikka agent (SPC) synced its PMS within 24 hours (`refresh` / `not_refresh`,
//! also spelled `not refresh`, any case); `health_check` says whether the agent reports an error
//! (`spc_error_flag`, `spc_error_description`) or is inactive (`is_inactive`). Pure, so every
//! combination is tested here; the calls are `pms::sikka::support`.

use super::{Check, Verdict};
use crate::pms::sikka::{SikkaError, SupportItem};

const CHECK: &str = "sync_agent";

/// What the doctor tells an operator when the agent has not synced.
pub const NOT_REFRESHED_STEP: &str = "the practice's Sikka agent (SPC) has not synced for over 24 hours; ask the practice to check the PC running the Sikka agent is on and online";

/// A flag that says something: not empty, and not a spelling of false.
fn raised(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        !["false", "0", "no", "n", "none"]
            .iter()
            .any(|f| v.eq_ignore_ascii_case(f))
    })
}

/// The verdict on the office's agent from the two answers (their items, already this office's).
pub fn agent_verdict(
    office: &str,
    health: Result<Vec<SupportItem>, SikkaError>,
    sync: Result<Vec<SupportItem>, SikkaError>,
) -> Check {
    let (health, sync) = match (health, sync) {
        (Ok(health), Ok(sync)) => (health, sync),
        (Err(e), _) | (_, Err(e)) => {
            let which = "Sikka's health_check or data_sync_status";
            return Check::bad(
                CHECK,
                Verdict::Failed,
                format!("{which} could not be read for office {office}: {e}"),
                "Retry in a few minutes; if it persists, check SIKKA_APP_ID and SIKKA_APP_KEY and Sikka's status page.",
            );
        }
    };
    let (Some(status), Some(agent)) = (sync.first(), health.first()) else {
        let missing = match (sync.is_empty(), health.is_empty()) {
            (true, true) => "data_sync_status nor health_check",
            (true, false) => "data_sync_status",
            _ => "health_check",
        };
        return Check::bad(
            CHECK,
            Verdict::Failed,
            format!("office {office} is not listed by Sikka's {missing}"),
            "Check the practice's Sikka office id, and that the practice has installed the Sikka agent (SPC) and still authorizes this application.",
        );
    };
    let state = status.get("status").unwrap_or("").to_ascii_lowercase();
    let state = state.replace(' ', "_");
    let synced = status.get("data_insert_date").unwrap_or("an unknown time");
    if agent.flag("is_inactive") {
        return Check::bad(
            CHECK,
            Verdict::Failed,
            format!(
                "Sikka marks office {office}'s agent (SPC) inactive; its data was last synced {synced}"
            ),
            "Ask the practice to reinstall or reactivate the Sikka agent (SPC), or contact Sikka support.",
        );
    }
    if state == "not_refresh" {
        return Check::bad(
            CHECK,
            Verdict::Failed,
            format!("data_sync_status is not_refresh: the last data arrived {synced}"),
            capitalise(NOT_REFRESHED_STEP),
        );
    }
    let error = agent.get("spc_error_description");
    if raised(agent.get("spc_error_flag")) || error.is_some() {
        return Check::bad(
            CHECK,
            Verdict::Warning,
            format!(
                "the Sikka agent (SPC) reports an error: {}",
                error.unwrap_or("(no description)")
            ),
            "Ask the practice to check the PC running the Sikka agent (SPC); Sikka support can read the error in detail.",
        );
    }
    if state != "refresh" {
        return Check::bad(
            CHECK,
            Verdict::Warning,
            format!(
                "data_sync_status answered an unknown status {:?}; the last data arrived {synced}",
                status.get("status").unwrap_or("")
            ),
            "Check the practice's sync in Sikka's portal.",
        );
    }
    let refreshed = agent
        .get("refresh_time")
        .map(|t| format!(", the agent last refreshed {t}"))
        .unwrap_or_default();
    Check::ok(
        CHECK,
        format!(
            "the Sikka agent (SPC) is syncing: data_sync_status refresh, last data {synced}{refreshed}"
        ),
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(fields: &[(&str, &str)]) -> SupportItem {
        SupportItem(
            fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn verdict(health: &[(&str, &str)], sync: &[(&str, &str)]) -> Check {
        agent_verdict("D1", Ok(vec![item(health)]), Ok(vec![item(sync)]))
    }

    #[test]
    fn refresh_is_ok_and_says_when() {
        let c = verdict(
            &[
                ("refresh_time", "10/3/2023 11:36:12 PM"),
                ("spc_error_flag", ""),
            ],
            &[
                ("status", "refresh"),
                ("data_insert_date", "2022-03-28T01:40:31"),
            ],
        );
        assert_eq!(c.verdict, Verdict::Ok);
        assert!(c.detail.contains("2022-03-28T01:40:31"), "{}", c.detail);
        assert!(c.next_step.is_none());
    }

    #[test]
    fn not_refreshed_fails_in_either_spelling() {
        for status in ["not_refresh", "not refresh", "Not Refresh", "NOT_REFRESH"] {
            let c = verdict(&[], &[("status", status)]);
            assert_eq!(c.verdict, Verdict::Failed, "{status}");
            assert!(
                c.next_step
                    .unwrap()
                    .contains("has not synced for over 24 hours")
            );
        }
    }

    #[test]
    fn spc_errors_warn_and_inactive_fails() {
        let c = verdict(
            &[
                ("spc_error_flag", "True"),
                ("spc_error_description", "PMS path not found"),
            ],
            &[("status", "refresh")],
        );
        assert_eq!(c.verdict, Verdict::Warning);
        assert!(c.detail.contains("PMS path not found"));
        let c = verdict(&[("spc_error_flag", "False")], &[("status", "refresh")]);
        assert_eq!(c.verdict, Verdict::Ok);
        let c = verdict(&[("is_inactive", "True")], &[("status", "refresh")]);
        assert_eq!(c.verdict, Verdict::Failed);
    }

    #[test]
    fn missing_office_and_errors_fail() {
        let c = agent_verdict("D1", Ok(vec![]), Ok(vec![item(&[("status", "refresh")])]));
        assert_eq!(c.verdict, Verdict::Failed);
        assert!(c.detail.contains("health_check"));
        let c = agent_verdict("D1", Ok(vec![]), Err(SikkaError::NotInPlan));
        assert_eq!(c.verdict, Verdict::Failed);
        assert!(c.detail.contains("API2004"));
        // No status at all: not a parse failure, an unknown status.
        let c = verdict(&[], &[]);
        assert_eq!(c.verdict, Verdict::Warning);
    }
}
