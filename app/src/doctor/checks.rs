//! The doctor's checks, run in order on one practice (see `mod.rs`). Each says what it found in
//! plain words and, when not ok, what an operator should do; none names a patient.

use super::{Check, Doctor, Verdict, agent::agent_verdict};
use crate::{
    pms::{AccountId, PmsError, WritebackState, sikka::SikkaError},
    practices::Practice,
};

/// Every check on `account`, in order, and whether the directory knows it.
pub async fn run(doctor: &Doctor, account: &AccountId) -> (bool, Vec<Check>) {
    let practice = match doctor.directory.by_account(account).await {
        Ok(Some(practice)) => practice,
        found => {
            let known = found.is_err();
            let profile = match found {
                Err(e) => Check::bad(
                    "profile",
                    Verdict::Failed,
                    format!("the practice directory could not be read: {e}"),
                    "Check the gateway's access to its practices store (SSM Parameter Store on aws, the practices file locally), then retry.",
                ),
                _ => Check::bad(
                    "profile",
                    Verdict::Failed,
                    format!("no practice {account} in the directory"),
                    "Check the account id, or add the practice (`cargo xtask practice add`, or the local practices file).",
                ),
            };
            let why = "the practice's profile did not resolve";
            let checks = vec![
                profile,
                Check::skipped("credentials", why),
                Check::skipped("schedule", why),
                Check::skipped("sync_agent", why),
                Check::skipped("writebacks", why),
            ];
            return (known, checks);
        }
    };
    let profile = profile(doctor, &practice).await;
    let credentials = credentials(doctor, &practice).await;
    let schedule = if credentials.verdict == Verdict::Failed {
        Check::skipped(
            "schedule",
            "the practice has no usable Sikka credentials (see credentials)",
        )
    } else {
        schedule(doctor, &practice).await
    };
    let checks = vec![
        profile,
        credentials,
        schedule,
        sync_agent(&practice).await,
        writebacks(doctor, account).await,
    ];
    (true, checks)
}

async fn profile(doctor: &Doctor, practice: &Practice) -> Check {
    let p = &practice.profile;
    let zone = p.time_zone.iana_name().unwrap_or("(unnamed zone)");
    let who = format!(
        "{}, time zone {zone}, {} system",
        p.name,
        practice.pms.kind()
    );
    match doctor.directory.routes_to(&p.account_id).await {
        Ok(0) => Check::bad(
            "profile",
            Verdict::Warning,
            format!(
                "{who}; no route (Vapi phone number or assistant) leads to it, so calls cannot reach it"
            ),
            "Bind the practice's Vapi phone number or assistant to it (`cargo xtask practice add … --phone-number-id/--assistant-id --replace`).",
        ),
        Ok(n) => Check::ok(
            "profile",
            format!(
                "{who}; {n} route{} (Vapi phone numbers, assistants, practice lines)",
                if n == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => Check::bad(
            "profile",
            Verdict::Warning,
            format!("{who}; its routes could not be read: {e}"),
            "Check the gateway's access to its practices store, then retry.",
        ),
    }
}

async fn credentials(doctor: &Doctor, practice: &Practice) -> Check {
    const CHECK: &str = "credentials";
    let Some(sikka) = practice.pms.sikka() else {
        return Check::ok(CHECK, "sandbox practice, no Sikka");
    };
    let office = &sikka.config().office_id;
    let stored = doctor
        .credentials
        .reload(&practice.profile.account_id)
        .await;
    let onboard = "Have the practice authorize the application in Sikka again, so onboarding stores its office's secret key.";
    match stored {
        Err(e) => {
            return Check::bad(
                CHECK,
                Verdict::Failed,
                format!("the credential store could not be read: {e}"),
                "Check the gateway's access to its credential store (Secrets Manager on aws, the credentials file locally), then retry.",
            );
        }
        Ok(None) => {
            return Check::bad(
                CHECK,
                Verdict::Failed,
                format!("no Sikka credentials are stored for office {office}"),
                onboard,
            );
        }
        Ok(Some(c)) if c.revoked => {
            return Check::bad(
                CHECK,
                Verdict::Failed,
                format!(
                    "the practice withdrew its Sikka authorization of this application (office {office})"
                ),
                onboard,
            );
        }
        Ok(Some(_)) => {}
    }
    match sikka.request_key_check().await {
        Ok(()) => Check::ok(
            CHECK,
            format!("Sikka credentials stored for office {office}; a request key is valid"),
        ),
        Err(e) => {
            let step = match e {
                SikkaError::PracticeNotAuthorized => onboard,
                SikkaError::Misconfigured { .. } | SikkaError::Unauthorized { .. } => {
                    "Check SIKKA_APP_ID and SIKKA_APP_KEY, and the office's stored secret key; if the secret key changed, run the practice's onboarding again."
                }
                _ => {
                    "Sikka could not grant a key just now: retry in a few minutes, and check Sikka's status if it persists."
                }
            };
            Check::bad(
                CHECK,
                Verdict::Failed,
                format!(
                    "credentials are stored for office {office}, but no request key could be had: {e}"
                ),
                step,
            )
        }
    }
}

async fn schedule(doctor: &Doctor, practice: &Practice) -> Check {
    const CHECK: &str = "schedule";
    let today = practice.profile.now(&doctor.clock).date();
    let from = today.to_datetime(jiff::civil::Time::midnight());
    let to = today
        .tomorrow()
        .unwrap_or(today)
        .to_datetime(jiff::civil::Time::midnight());
    match practice.pms.appointments_between(from, to).await {
        Ok(appointments) => Check::ok(
            CHECK,
            format!(
                "today's schedule ({today}) reads: {} appointment{}",
                appointments.len(),
                if appointments.len() == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => {
            let step = match e {
                PmsError::Misconfigured(_) => {
                    "The practice's setup is wrong (see credentials): fix it, then retry."
                }
                PmsError::Offline => {
                    "The practice's Sikka agent is offline: ask the practice to check the PC running it."
                }
                _ => {
                    "Retry in a few minutes; if it persists, see the sync_agent check and Sikka's status."
                }
            };
            Check::bad(
                CHECK,
                Verdict::Failed,
                format!("today's schedule ({today}) could not be read: {e}"),
                step,
            )
        }
    }
}

async fn sync_agent(practice: &Practice) -> Check {
    let Some(sikka) = practice.pms.sikka() else {
        return Check::ok("sync_agent", "sandbox practice, no Sikka agent");
    };
    let office = &sikka.config().office_id;
    let (health, sync) = tokio::join!(
        sikka.client().health_check(office),
        sikka.client().data_sync_status(office)
    );
    agent_verdict(office.as_str(), health, sync)
}

async fn writebacks(doctor: &Doctor, account: &AccountId) -> Check {
    const CHECK: &str = "writebacks";
    let latest = match doctor.ledger.latest(account).await {
        Ok(Some(latest)) => latest,
        Ok(None) => return Check::ok(CHECK, "no writes yet"),
        Err(e) => {
            return Check::bad(
                CHECK,
                Verdict::Warning,
                format!("the write ledger could not be read: {e}"),
                "Check the gateway's access to its shared state (DynamoDB on aws), then retry.",
            );
        }
    };
    let what = format!(
        "the latest write ({}, reference {}, sent {})",
        latest.tool.name(),
        latest.reference,
        latest.claimed_at
    );
    match latest.state {
        WritebackState::Applied { .. } => Check::ok(CHECK, format!("{what} was applied")),
        WritebackState::Failed { .. } => Check::bad(
            CHECK,
            Verdict::Warning,
            format!("{what} failed: the practice's system did not apply it"),
            "Ask the practice's staff to check it in their system (the audit trail has its outcome); the caller may need a call back.",
        ),
        WritebackState::Pending => {
            let age = doctor
                .clock
                .now()
                .duration_since(latest.claimed_at)
                .unsigned_abs();
            let minutes = age.as_secs() / 60;
            if age > doctor.pending_warn {
                Check::bad(
                    CHECK,
                    Verdict::Warning,
                    format!("{what} is still pending after {minutes} minutes"),
                    "The practice's system has not applied it: see the sync_agent check, and ask the practice's staff to look for it in their system.",
                )
            } else {
                Check::ok(
                    CHECK,
                    format!("{what} is pending ({} s so far)", age.as_secs()),
                )
            }
        }
    }
}
