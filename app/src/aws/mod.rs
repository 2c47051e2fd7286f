//! The `aws` profile's adapters, on the AWS SDK for Rust with the standard credential chain (the
//! ECS task role in production; `AWS_ENDPOINT_URL` and dummy keys against moto in tests) and the
//! tree's one TLS stack (rustls with aws-lc-rs). No endpoint code of our own. So far: system
//! settings from SSM Parameter Store (`settings.rs`), and the practices and their route table
//! from SSM, refreshed in the background (`practices.rs`; not yet served by the profile).

pub mod practices;
pub mod settings;

/// The SDK's shared configuration from the standard chain: region, credentials and endpoint
/// (`AWS_ENDPOINT_URL`) as the environment, profile files or the ECS task provide them.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
