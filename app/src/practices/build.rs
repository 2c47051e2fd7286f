//! A practice built from its stored description, wherever that is kept (the local practices
//! file, SSM Parameter Store on the `aws` profile): the PMS binding's JSON shape, and the one
//! place a profile and a binding become a [`Practice`] (time zone checked, the sandbox or the
//! practice's Sikka connection built).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{BookingPolicy, LocalOptions, LocalStoreError, Practice, PracticeProfile};
use crate::pms::{
    AccountId, E164, OfficeId, PracticeSystem,
    sandbox::{SandboxConfig, SandboxPractice},
    sikka::{SikkaPractice, SikkaPracticeConfig},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PmsBinding {
    Sandbox,
    /// A practice reached through Sikka; its credentials are in the credential store.
    Sikka {
        office_id: OfficeId,
        /// Sikka's `practice_id` (`"1"`, `"1-0"`).
        practice_id: String,
        /// `practice_management_system` (`Dentrix`, `Orthotrac`, …).
        pms_type: String,
        /// The appointment status a cancellation writes; looked up from Sikka when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cancel_status: Option<String>,
    },
}

impl PmsBinding {
    /// The Sikka office this binding reaches, if it is one.
    pub fn office(&self) -> Option<&OfficeId> {
        match self {
            PmsBinding::Sandbox => None,
            PmsBinding::Sikka { office_id, .. } => Some(office_id),
        }
    }
}

/// Who a practice is, as stored: everything of its profile and binding but its routes.
pub struct PracticeParts {
    pub account_id: AccountId,
    pub name: String,
    /// IANA zone name, e.g. `America/Los_Angeles`.
    pub time_zone: String,
    pub transfer_number: Option<E164>,
    pub staff_sms_number: Option<E164>,
    pub pms: PmsBinding,
}

/// The practice `parts` describe, its system built with `options`.
pub fn build_practice(
    parts: PracticeParts,
    options: &LocalOptions,
) -> Result<Practice, LocalStoreError> {
    let account = parts.account_id.to_string();
    let time_zone =
        jiff::tz::TimeZone::get(&parts.time_zone).map_err(|_| LocalStoreError::TimeZone {
            account: account.clone(),
            zone: parts.time_zone.clone(),
        })?;
    let today = options
        .clock
        .now()
        .to_zoned_datetime(time_zone.clone())
        .date();
    let pms: Arc<dyn PracticeSystem> = match parts.pms {
        PmsBinding::Sandbox => Arc::new(
            SandboxPractice::new(SandboxConfig {
                today,
                write_delay: options.write_delay,
                extra_patients: options.extra_patients.clone(),
                schedule: options.schedule.clone(),
            })
            .map_err(|_| LocalStoreError::ExtraPatients)?,
        ),
        PmsBinding::Sikka {
            office_id,
            practice_id,
            pms_type,
            cancel_status,
        } => {
            let client = options
                .sikka
                .clone()
                .ok_or(LocalStoreError::NoSikkaApp { account })?;
            let mut config = SikkaPracticeConfig::new(
                parts.account_id.clone(),
                office_id,
                practice_id,
                pms_type,
            );
            config.cancel_status = cancel_status;
            Arc::new(
                SikkaPractice::new(client, config, options.credentials.clone())
                    .with_refresh_leases(options.leases.clone()),
            )
        }
    };
    Ok(Practice {
        profile: PracticeProfile {
            account_id: parts.account_id,
            name: parts.name,
            time_zone,
            transfer_number: parts.transfer_number,
            staff_sms_number: parts.staff_sms_number,
            booking: BookingPolicy::default(),
        },
        pms,
    })
}
