//! The `aws` profile's test rig: one moto, the Sikka emulator and a Cognito user pool, with an
//! environment of its own on them (its backend settings in SSM, its audit log group and state
//! table as Terraform makes them); practices added with `cargo xtask practice add`; gateways
//! started on it.

use aws_sdk_ssm::types::ParameterType;
use serde_json::json;

use crate::{
    TestApp,
    cognito::UserPool,
    moto::Moto,
    sikka::{SikkaEmulator, SikkaOptions},
    unique,
};

pub const APP_ID: &str = "app-aws-profile";
pub const APP_KEY: &str = "canary-aws-app-key-5c1d";
pub const CALLBACK_KEY: &str = "canary-aws-callback-key-0e7b";
pub const OFFICE_SECRET: &str = "canary-aws-office-secret-93aa";

/// A caller of the rig's Sikka practice (`acct_a` on `pn_a`, see [`Rig::sikka_practice`]) from
/// `number`.
pub fn caller(number: &str) -> crate::Caller {
    crate::Caller {
        number: Some(number.into()),
        ..crate::Caller::at("acct_a", "pn_a")
    }
}

/// One environment on one moto, in front of one Sikka emulator.
pub struct Rig {
    pub moto: Moto,
    /// `DEPLOY_ENV`: the environment's names are `/parlae/<env>/…`, `parlae-<env>-state`.
    pub env_name: String,
    pub sikka: SikkaEmulator,
    pub pool: UserPool,
}

impl Rig {
    /// The environment, with the emulator's defaults.
    pub async fn new() -> Self {
        Self::with(SikkaOptions::default()).await
    }

    /// The environment, with the emulator's `options` (its application and office are the
    /// rig's).
    pub async fn with(options: SikkaOptions) -> Self {
        let moto = Moto::start();
        let sikka = SikkaEmulator::start(SikkaOptions {
            app_id: APP_ID.into(),
            app_key: APP_KEY.into(),
            office_id: "D100".into(),
            secret_key: OFFICE_SECRET.into(),
            ..options
        })
        .await;
        let rig = Self {
            moto,
            env_name: unique("e2e").replace('_', "-"),
            sikka,
            pool: UserPool::start().await,
        };
        // The audit log group and the state table are Terraform's; the gateway makes its own
        // stream in the group.
        rig.moto.create_state_table(&rig.state_table()).await;
        rig.moto
            .logs()
            .create_log_group()
            .log_group_name(format!("/parlae/{}/audit", rig.env_name))
            .send()
            .await
            .expect("create the audit log group");
        let ssm = rig.moto.ssm();
        let backend = format!("/parlae/{}/backend", rig.env_name);
        for (name, value, secure) in [
            ("SIKKA_APP_ID", APP_ID, false),
            ("SIKKA_APP_KEY", APP_KEY, true),
            ("SIKKA_CALLBACK_KEY", CALLBACK_KEY, true),
            ("SIKKA_BASE_URL", rig.sikka.base_url(), false),
            ("SIKKA_RECONCILE_SECONDS", "0", false),
            ("PUBLIC_BASE_URL", "https://gateway.example", false),
        ] {
            ssm.put_parameter()
                .name(format!("{backend}/{name}"))
                .value(value)
                .r#type(if secure {
                    ParameterType::SecureString
                } else {
                    ParameterType::String
                })
                .send()
                .await
                .expect("seed a backend setting");
        }
        rig
    }

    /// `parlae-<env>-state`.
    pub fn state_table(&self) -> String {
        format!("parlae-{}-state", self.env_name)
    }

    /// `cargo xtask practice add --env <env> <args>`, which must succeed.
    pub async fn practice(&self, args: &[&str]) {
        let all: Vec<&str> = ["practice", "add", "--env", &self.env_name]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        let out = self.moto.xtask(&all).await;
        assert!(
            out.status.success(),
            "xtask practice add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `acct_a` on Vapi number `pn_a`, bound to the emulator's office `D100` (Dentrix), in
    /// `time_zone`.
    pub async fn sikka_practice(&self, time_zone: &str) {
        self.sikka_practice_with(time_zone, &[]).await;
    }

    /// [`Self::sikka_practice`], with more `practice add` arguments.
    pub async fn sikka_practice_with(&self, time_zone: &str, more: &[&str]) {
        let args = [
            "--account",
            "acct_a",
            "--name",
            "Bright Smile Dental",
            "--time-zone",
            time_zone,
            "--phone-number-id",
            "pn_a",
            "--office-id",
            "D100",
            "--practice-id",
            "1",
            "--pms-type",
            "Dentrix",
        ];
        let all: Vec<&str> = args.iter().chain(more).copied().collect();
        self.practice(&all).await;
    }

    /// The first free slot on `day` (its time and provider), as `app` offers it.
    pub async fn free_slot(app: &TestApp, day: jiff::civil::Date) -> (String, String) {
        let offered = app
            .tool(
                "check_availability",
                json!({"date": day.to_string(), "max_results": 20}),
                &caller("+14155559999"),
            )
            .await
            .json();
        let slot = &offered["slots"][0];
        (
            slot["time"].as_str().expect("a free slot").to_owned(),
            slot["provider_id"].as_str().expect("a provider").to_owned(),
        )
    }

    /// A gateway on the environment.
    pub async fn gateway(&self) -> TestApp {
        self.gateway_with(&[]).await
    }

    /// A gateway on the environment, with `extra` settings.
    pub async fn gateway_with(&self, extra: &[(&str, String)]) -> TestApp {
        let mut env: Vec<(&str, String)> = self.moto.env();
        env.extend(self.pool.env());
        env.extend([
            ("PROFILE", "aws".to_owned()),
            ("DEPLOY_ENV", self.env_name.clone()),
            // The aws profile runs on the system clock.
            ("GATEWAY_NOW", String::new()),
            ("PRACTICES_REFRESH_SECONDS", "1".to_owned()),
            ("METRICS_INTERVAL_SECONDS", "1".to_owned()),
        ]);
        env.extend(extra.iter().cloned());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        TestApp::spawn_with(&env).await
    }

    /// A gateway (without Cognito) keeping its audit spool in `audit_dir`: a restart on the
    /// same storage.
    pub async fn gateway_on(&self, audit_dir: tempfile::TempDir) -> TestApp {
        let mut env: Vec<(&str, String)> = self.moto.env();
        env.extend([
            ("PROFILE", "aws".to_owned()),
            ("DEPLOY_ENV", self.env_name.clone()),
            ("GATEWAY_NOW", String::new()),
        ]);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        TestApp::spawn_in(audit_dir, &env).await
    }

    /// Onboards office `D100` (Sikka's authorize webhook through `app`): its credentials become
    /// the practice's secret.
    pub async fn onboard(&self, app: &TestApp) {
        let authorized = app
            .client
            .post(app.url("/pms/sikka/webhook/authorize"))
            .header("callback-key", CALLBACK_KEY)
            .json(
                &json!({"event": "app.authorized", "app_id": APP_ID, "office_id": "D100",
                          "secret_key": OFFICE_SECRET, "practice_name": "Bright Smile",
                          "practice_id": 1, "pms_type": "Dentrix"}),
            )
            .send()
            .await
            .unwrap();
        assert!(authorized.status().is_success(), "{}", authorized.status());
    }
}
