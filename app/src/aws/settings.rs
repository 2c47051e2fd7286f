//! System settings from SSM Parameter Store, on the `aws` profile. At start every parameter under
//! `/<NAME_PREFIX>/<DEPLOY_ENV>/backend/` is read (`GetParametersByPath`: recursive, decrypted,
//! every page). Each is named after the environment variable it stands for
//! (`/parlae/dev/backend/SIKKA_APP_ID`), and an environment variable of the same name overrides it
//! (that is how ECS task-definition `secrets` arrive). The merged values go through the one
//! [`Settings::from_lookup`], so a value means the same wherever it came from. Values are kept as
//! [`Secret`]s: no error or log line shows one (a bad value read from a `SecureString` is
//! redacted in the error that names it).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ssm::types::ParameterType;

use crate::config::{ConfigError, Settings};
use crate::secret::Secret;

/// The first part of every AWS name when `NAME_PREFIX` is not set.
pub const DEFAULT_NAME_PREFIX: &str = "parlae";

/// Settings the `aws` profile cannot start without. The Sikka callback key is here because on
/// AWS practices are onboarded through Sikka's authorize webhook, which it authenticates.
/// Settings of features that may be off (the marketplace notifications, Twilio, Cognito) are
/// optional: their routes answer 503 without them.
pub const REQUIRED: &[&str] = &[
    "VAPI_WEBHOOK_SECRET",
    "SIKKA_APP_ID",
    "SIKKA_APP_KEY",
    "SIKKA_CALLBACK_KEY",
    "PUBLIC_BASE_URL",
];

/// Variables only the environment may set: they choose where the settings come from.
const ENVIRONMENT_ONLY: &[&str] = &["PROFILE", "NAME_PREFIX", "DEPLOY_ENV"];

#[derive(Debug, thiserror::Error)]
pub enum AwsSettingsError {
    #[error(
        "DEPLOY_ENV is required on the aws profile: the environment whose settings are read from /<NAME_PREFIX>/<DEPLOY_ENV>/backend/ in SSM Parameter Store, such as dev"
    )]
    NoDeployEnv,
    #[error(
        "{variable}={value:?} is invalid: expected letters, digits, '-', '_' or '.' (it is part of AWS resource names)"
    )]
    BadNamePart {
        variable: &'static str,
        value: String,
    },
    #[error(transparent)]
    Ssm(#[from] super::SsmError),
    #[error("the aws profile is missing required settings: {}", missing.join("; "))]
    Missing { missing: Vec<String> },
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The parameters read from one path, by setting name.
#[derive(Debug, Default)]
pub struct Parameters {
    /// The path read, without a trailing slash: `/parlae/dev/backend`.
    pub path: String,
    /// How many parameters the path held (all pages).
    pub read: usize,
    values: BTreeMap<String, Secret>,
    /// Names whose parameter is a `SecureString`.
    secure: BTreeSet<String>,
    /// Parameters under the path whose name is not a setting's (nested or not a variable name).
    pub ignored: Vec<String>,
}

impl Parameters {
    /// Files a parameter by its full name; names that are not a setting's are noted, not used.
    pub fn insert(&mut self, full_name: &str, value: String, secure: bool) {
        self.read += 1;
        let name = full_name
            .strip_prefix(&self.path)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| is_variable_name(name) && !ENVIRONMENT_ONLY.contains(name));
        match name {
            Some(name) => {
                if secure {
                    self.secure.insert(name.to_owned());
                }
                self.values.insert(name.to_owned(), Secret::new(value));
            }
            None => self.ignored.push(full_name.to_owned()),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        self.values.get(name).map(|v| v.expose().to_owned())
    }
}

/// What was loaded and from where, for the start-up log line (names only, never values).
#[derive(Debug)]
pub struct Loaded {
    pub path: String,
    pub parameters: usize,
    /// Settings taken from SSM.
    pub from_ssm: Vec<String>,
    /// Settings present in SSM but overridden by an environment variable.
    pub overridden: Vec<String>,
    pub ignored: Vec<String>,
}

impl Loaded {
    pub fn log(&self, settings: &Settings) {
        tracing::info!(
            path = %self.path,
            parameters = self.parameters,
            from_ssm = ?self.from_ssm,
            overridden_by_environment = ?self.overridden,
            ignored = ?self.ignored,
            public_base_url = settings.server.public_base_url.as_deref().unwrap_or_default(),
            "settings loaded from SSM Parameter Store"
        );
    }
}

/// `/<NAME_PREFIX>/<DEPLOY_ENV>/backend`, from the environment.
pub fn backend_path(env: &dyn Fn(&str) -> Option<String>) -> Result<String, AwsSettingsError> {
    Ok(format!("{}/backend", env_root(env)?))
}

/// `/<NAME_PREFIX>/<DEPLOY_ENV>`: where the environment's parameters (backend settings,
/// practices, routes) live.
pub fn env_root(env: &dyn Fn(&str) -> Option<String>) -> Result<String, AwsSettingsError> {
    let prefix = name_part(env, "NAME_PREFIX")?.unwrap_or_else(|| DEFAULT_NAME_PREFIX.into());
    let deploy_env = name_part(env, "DEPLOY_ENV")?.ok_or(AwsSettingsError::NoDeployEnv)?;
    Ok(format!("/{prefix}/{deploy_env}"))
}

/// Every parameter under `path`: recursive, decrypted, following every page.
pub async fn fetch(
    client: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Parameters, AwsSettingsError> {
    let mut parameters = Parameters {
        path: path.to_owned(),
        ..Default::default()
    };
    for p in super::parameters_under(client, path).await? {
        if let (Some(name), Some(value)) = (p.name(), p.value()) {
            let secure = p.r#type() == Some(&ParameterType::SecureString);
            parameters.insert(name, value.to_owned(), secure);
        }
    }
    Ok(parameters)
}

/// The settings from `parameters` overridden by `env`, checked for the required ones.
pub fn merge(
    env: &dyn Fn(&str) -> Option<String>,
    parameters: &Parameters,
) -> Result<(Settings, Loaded), AwsSettingsError> {
    let lookup = |name: &str| -> Option<String> {
        if name == "PROFILE" {
            return Some("aws".into());
        }
        env(name).or_else(|| parameters.get(name))
    };
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|name| lookup(name).is_none_or(|v| v.trim().is_empty()))
        .map(|name| {
            format!(
                "{name} (SSM parameter {}/{name}, or the environment variable {name})",
                parameters.path
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(AwsSettingsError::Missing { missing });
    }
    let settings = Settings::from_lookup(&lookup).map_err(|mut e| {
        if env(e.variable).is_none() && parameters.secure.contains(e.variable) {
            e.value = "[redacted: a SecureString]".into();
        }
        e
    })?;
    let (overridden, from_ssm) = parameters
        .values
        .keys()
        .cloned()
        .partition(|name| env(name).is_some());
    Ok((
        settings,
        Loaded {
            path: format!("{}/", parameters.path),
            parameters: parameters.read,
            from_ssm,
            overridden,
            ignored: parameters.ignored.clone(),
        },
    ))
}

/// The `aws` profile's settings: SSM under the backend path, overridden by the environment.
pub async fn load(
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Settings, Loaded), AwsSettingsError> {
    let path = backend_path(env)?;
    let client = aws_sdk_ssm::Client::new(&super::sdk_config().await);
    let parameters = fetch(&client, &path).await?;
    merge(env, &parameters)
}

/// A setting's name: what an environment variable may be called.
fn is_variable_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn name_part(
    env: &dyn Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<String>, AwsSettingsError> {
    match env(variable).map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v)
            if v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
        {
            Ok(Some(v))
        }
        Some(value) => Err(AwsSettingsError::BadNamePart { variable, value }),
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
