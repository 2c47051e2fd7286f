//! `cargo xtask practice add|show|list|remove --env dev`: an operator's view of the practices
//! the `aws` profile serves, kept in SSM Parameter Store under `/<prefix>/<env>/practices/` and
//! `…/routes/`. The checks and the writes are the gateway's own
//! (`gateway::aws::practice_admin`), so an entry this accepts is one the gateway serves. AWS is
//! reached through the standard credential chain (`AWS_PROFILE`, `AWS_REGION`, and
//! `AWS_ENDPOINT_URL` for an emulator).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use gateway::aws::practice_admin::{PracticeAdmin, PracticeRecord};
use gateway::aws::practices::SsmPracticeEntry;
use gateway::pms::{AccountId, E164, OfficeId};
use gateway::practices::PmsBinding;

#[derive(Args)]
pub struct PracticeArgs {
    #[command(subcommand)]
    command: Command,
    /// The deployment environment (`DEPLOY_ENV`), e.g. dev.
    #[arg(long, global = true)]
    env: Option<String>,
    /// The name prefix (`NAME_PREFIX`).
    #[arg(long, global = true, default_value = "parlae")]
    prefix: String,
}

#[derive(Subcommand)]
enum Command {
    /// Add a practice and its routes (checked first; nothing is written if a check fails).
    Add(Box<AddArgs>),
    /// Print a practice and its routes as JSON.
    Show {
        #[arg(long)]
        account: String,
    },
    /// List the practices, and any stored entry the gateway would skip.
    List,
    /// Remove a practice's routes, then the practice.
    Remove {
        #[arg(long)]
        account: String,
    },
}

#[derive(Args)]
struct AddArgs {
    /// The practice's account id (the name of its parameter).
    #[arg(long)]
    account: String,
    /// The name callers hear.
    #[arg(long)]
    name: String,
    /// IANA time zone, e.g. America/Los_Angeles.
    #[arg(long)]
    time_zone: String,
    /// Where `transfer_to_human` sends callers (E.164).
    #[arg(long)]
    transfer_number: Option<String>,
    /// A practice line (E.164); repeat for several.
    #[arg(long = "phone-number")]
    phone_numbers: Vec<String>,
    /// Where messages for the front desk are texted (E.164); without it they are only kept
    /// for `GET /practices/{id}/messages`.
    #[arg(long)]
    staff_sms_number: Option<String>,
    /// A Vapi phone-number id routed to this practice; repeat for several.
    #[arg(long = "phone-number-id")]
    phone_number_ids: Vec<String>,
    /// A Vapi assistant id routed to this practice (web calls); repeat for several.
    #[arg(long = "assistant-id")]
    assistant_ids: Vec<String>,
    /// The Secrets Manager name of the practice's own Vapi secret, if its assistants sign with one.
    #[arg(long)]
    vapi_secret_ref: Option<String>,
    /// `sandbox`, or `sikka` with --office-id, --practice-id and --pms-type.
    #[arg(long, default_value = "sikka")]
    pms: String,
    #[arg(long)]
    office_id: Option<String>,
    /// Sikka's practice_id (`1`, `1-0`).
    #[arg(long)]
    practice_id: Option<String>,
    /// Sikka's practice_management_system (`Dentrix`, `Eaglesoft`, …).
    #[arg(long)]
    pms_type: Option<String>,
    /// The appointment status a cancellation writes (looked up from Sikka when absent).
    #[arg(long)]
    cancel_status: Option<String>,
    /// Replace the practice if it exists (its routes become exactly the ones given).
    #[arg(long)]
    replace: bool,
}

pub fn practice(args: PracticeArgs) -> Result<()> {
    let Some(env) = args.env.clone() else {
        bail!("--env is required: the deployment environment, e.g. --env dev");
    };
    let lookup = |name: &str| match name {
        "NAME_PREFIX" => Some(args.prefix.clone()),
        "DEPLOY_ENV" => Some(env.clone()),
        _ => None,
    };
    let root = gateway::aws::settings::env_root(&lookup)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = aws_client().await;
        let admin = PracticeAdmin::new(client, &root);
        match args.command {
            Command::Add(add) => {
                let replace = add.replace;
                let record = (*add).record()?;
                let written = admin.add(&record, replace).await?;
                eprintln!(
                    "practice {} written under {root}; running gateways serve it after their next refresh:",
                    record.account_id
                );
                for name in written {
                    eprintln!("  {name}");
                }
            }
            Command::Show { account } => {
                let record = admin.show(&AccountId::new(account)).await?;
                println!("{}", serde_json::to_string_pretty(&record)?);
            }
            Command::List => {
                let (records, unreadable) = admin.list().await?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "practices": records,
                        "skipped_by_the_gateway": unreadable,
                    }))?
                );
            }
            Command::Remove { account } => {
                let removed = admin.remove(&AccountId::new(account)).await?;
                for name in removed {
                    eprintln!("deleted {name}");
                }
            }
        }
        Ok(())
    })
}

async fn aws_client() -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(&gateway::aws::sdk_config().await)
}

impl AddArgs {
    fn record(self) -> Result<PracticeRecord> {
        let phone = |what: &str, raw: &str| {
            E164::parse(raw).map_err(|_| {
                anyhow::anyhow!("{what} {raw:?} is not a phone number (E.164, e.g. +15105550199)")
            })
        };
        let pms = match self.pms.as_str() {
            "sandbox" => PmsBinding::Sandbox,
            "sikka" => {
                let need = |v: Option<String>, flag: &str| {
                    v.with_context(|| format!("--pms sikka needs {flag}"))
                };
                PmsBinding::Sikka {
                    office_id: OfficeId::new(need(self.office_id, "--office-id")?),
                    practice_id: need(self.practice_id, "--practice-id")?,
                    pms_type: need(self.pms_type, "--pms-type")?,
                    cancel_status: self.cancel_status,
                }
            }
            other => bail!("--pms {other:?}: expected sikka or sandbox"),
        };
        Ok(PracticeRecord {
            account_id: AccountId::new(self.account),
            entry: SsmPracticeEntry {
                name: self.name,
                time_zone: self.time_zone,
                transfer_number: self
                    .transfer_number
                    .as_deref()
                    .map(|n| phone("--transfer-number", n))
                    .transpose()?,
                staff_sms_number: self
                    .staff_sms_number
                    .as_deref()
                    .map(|n| phone("--staff-sms-number", n))
                    .transpose()?,
                phone_numbers: self
                    .phone_numbers
                    .iter()
                    .map(|n| phone("--phone-number", n))
                    .collect::<Result<_>>()?,
                vapi_secret_ref: self.vapi_secret_ref,
                pms,
            },
            phone_number_ids: self.phone_number_ids,
            assistant_ids: self.assistant_ids,
        })
    }
}
