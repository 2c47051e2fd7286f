//! The Secrets Manager calls the credential store makes, each counted, and what their errors
//! mean to it: gone ([`Failure::NotFound`]), worth serving a cached value through
//! ([`Failure::Transient`]: throttling, 5xx, timeouts, connection failures), or refused.
//! Error details come from the SDK's error context (codes and AWS messages), never from a value.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_secretsmanager::{
    Client,
    config::http::HttpResponse,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::Tag,
};

/// The label a new version is written under until it is made `AWSCURRENT` by a
/// compare-and-swap; it moves to each newer staged version, so it never accumulates.
pub(super) const STAGED: &str = "gateway-staged";
const CURRENT: &str = "AWSCURRENT";

#[derive(Debug)]
pub(super) enum Failure {
    NotFound,
    Transient(String),
    Refused(String),
}

impl Failure {
    pub(super) fn detail(&self) -> &str {
        match self {
            Self::NotFound => "no such secret",
            Self::Transient(d) | Self::Refused(d) => d,
        }
    }
}

fn classify<E>(error: SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            status >= 500
                || status == 429
                || matches!(
                    service.err().code(),
                    Some("ThrottlingException" | "InternalServiceError")
                )
        }
        _ => false,
    };
    if error.code() == Some("ResourceNotFoundException") {
        return Failure::NotFound;
    }
    let detail = DisplayErrorContext(&error).to_string();
    if transient {
        Failure::Transient(detail)
    } else {
        Failure::Refused(detail)
    }
}

/// Calls made, by kind.
#[derive(Default)]
pub(super) struct Calls {
    pub gets: AtomicU64,
    pub describes: AtomicU64,
    pub puts: AtomicU64,
    pub creates: AtomicU64,
    pub stage_moves: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A secret's current value and its version id.
pub(super) struct Current {
    pub value: String,
    pub version: String,
}

pub(super) struct Sm {
    pub client: Client,
    pub calls: Calls,
}

impl Sm {
    /// `GetSecretValue` of the `AWSCURRENT` version; `None` when there is no such secret.
    pub async fn get(&self, name: &str) -> Result<Option<Current>, Failure> {
        count(&self.calls.gets);
        // The stage named, not left to the default: the same in AWS, and moto's default ignores
        // a stage moved by `UpdateSecretVersionStage`.
        let read = self.client.get_secret_value().secret_id(name);
        match read.version_stage(CURRENT).send().await {
            Ok(out) => Ok(Some(Current {
                value: out.secret_string().unwrap_or_default().to_owned(),
                version: out.version_id().unwrap_or_default().to_owned(),
            })),
            Err(e) => match classify(e) {
                Failure::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// `DescribeSecret`: the id of the `AWSCURRENT` version; `None` when there is no such secret
    /// or it is scheduled for deletion. Never reads the value.
    pub async fn current_version(&self, name: &str) -> Result<Option<String>, Failure> {
        count(&self.calls.describes);
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(out) if out.deleted_date().is_some() => Ok(None),
            Ok(out) => Ok(out.version_ids_to_stages().and_then(|stages| {
                stages
                    .iter()
                    .find(|(_, labels)| labels.iter().any(|l| l == CURRENT))
                    .map(|(version, _)| version.clone())
            })),
            Err(e) => match classify(e) {
                Failure::NotFound => Ok(None),
                other => Err(other),
            },
        }
    }

    /// `CreateSecret` with its first version current; `Ok(None)` when the secret exists already.
    pub async fn create(
        &self,
        name: &str,
        value: String,
        token: &str,
        kms_key_id: Option<&str>,
        tags: Vec<Tag>,
    ) -> Result<Option<String>, Failure> {
        count(&self.calls.creates);
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value)
            .client_request_token(token)
            .set_kms_key_id(kms_key_id.map(str::to_owned))
            .set_tags(Some(tags))
            .send()
            .await;
        match created {
            Ok(out) => Ok(Some(out.version_id().unwrap_or(token).to_owned())),
            Err(e) if e.code() == Some("ResourceExistsException") => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    /// `PutSecretValue` under [`STAGED`] only (not yet current): the new version's id. The
    /// `token` makes an SDK retry of the same put the same version.
    pub async fn put_staged(&self, name: &str, value: String, token: &str) -> Result<(), Failure> {
        count(&self.calls.puts);
        self.client
            .put_secret_value()
            .secret_id(name)
            .secret_string(value)
            .client_request_token(token)
            .version_stages(STAGED)
            .send()
            .await
            .map(drop)
            .map_err(classify)
    }

    /// Moves `AWSCURRENT` from `from` to `to` (compare-and-swap: Secrets Manager refuses when
    /// `from` no longer holds it). `Ok(false)`: another version became current first.
    pub async fn swap_current(&self, name: &str, from: &str, to: &str) -> Result<bool, Failure> {
        count(&self.calls.stage_moves);
        let moved = self
            .client
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(CURRENT)
            .remove_from_version_id(from)
            .move_to_version_id(to)
            .send()
            .await;
        match moved {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("InvalidParameterException") => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }
}

/// A secret that is not a practice's credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretReadError {
    #[error("secret {0} does not exist")]
    NotFound(String),
    #[error("secret {0} holds no text")]
    NotText(String),
    #[error("reading secret {name}: {detail}")]
    Unavailable { name: String, detail: String },
}

/// The text of secret `name` (its `AWSCURRENT` version), e.g. a practice's own Vapi secret
/// (`vapi_secret_ref`). Uncached: read it once at start or refresh. Errors name the secret only.
pub async fn read_secret_string(
    client: &Client,
    name: &str,
) -> Result<crate::secret::Secret, SecretReadError> {
    let read = client.get_secret_value().secret_id(name);
    match read.version_stage(CURRENT).send().await {
        Ok(out) => match out.secret_string() {
            Some(text) if !text.is_empty() => Ok(crate::secret::Secret::new(text)),
            _ => Err(SecretReadError::NotText(name.to_owned())),
        },
        Err(e) => match classify(e) {
            Failure::NotFound => Err(SecretReadError::NotFound(name.to_owned())),
            failure => Err(SecretReadError::Unavailable {
                name: name.to_owned(),
                detail: failure.detail().to_owned(),
            }),
        },
    }
}
