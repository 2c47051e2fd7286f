//! The wait after an apply: the ECS service is stable when it has exactly one deployment, the
//! PRIMARY one (ECS creates it, with the new task definition, when the apply updates the
//! service, and keeps the old one ACTIVE until it is drained), whose rollout is COMPLETED (or, where ECS
//! reports no rollout state, whose running count reached its desired count). A FAILED rollout
//! (the circuit breaker rolled back) or the deadline ends the wait with an error; progress is
//! printed whenever it changes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_ecs::{error::DisplayErrorContext, types::Service};

/// How often DescribeServices is asked.
const POLL: Duration = Duration::from_secs(5);

pub async fn wait_stable(
    region: Option<String>,
    cluster: &str,
    service: &str,
    limit: Duration,
) -> Result<()> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let client = aws_sdk_ecs::Client::new(&loader.load().await);
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let out = client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("ECS DescribeServices: {}", DisplayErrorContext(e)))?;
        let found = out
            .services()
            .first()
            .with_context(|| format!("ECS has no service {service} in cluster {cluster}"))?;
        let (stable, status) = state(found)?;
        if status != last {
            eprintln!("  {status} ({}s)", started.elapsed().as_secs());
            last = status;
        }
        if stable {
            return Ok(());
        }
        if started.elapsed() >= limit {
            bail!(
                "the ECS service {cluster}/{service} was not stable after {}s ({last}): see its \
                 events (aws ecs describe-services) and the container log group; raise \
                 --wait-seconds if tasks are merely slow to start",
                limit.as_secs()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether `service` is stable, and a one-line account of its deployments.
fn state(service: &Service) -> Result<(bool, String)> {
    let deployments = service.deployments();
    let primary = deployments
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .context("the ECS service has no PRIMARY deployment")?;
    let rollout = primary.rollout_state().map(|r| r.as_str().to_owned());
    if rollout.as_deref() == Some("FAILED") {
        bail!(
            "the ECS deployment failed ({}); the circuit breaker rolls back to the previous task \
             definition: see the service's events and the container log group",
            primary.rollout_state_reason().unwrap_or("no reason given")
        );
    }
    let (running, desired) = (primary.running_count(), primary.desired_count());
    let status = format!(
        "{} deployment(s); primary {}: running {running}/{desired}, pending {}, rollout {}",
        deployments.len(),
        primary.task_definition().unwrap_or("?"),
        primary.pending_count(),
        rollout.as_deref().unwrap_or("-")
    );
    let done = match rollout.as_deref() {
        Some(r) => r == "COMPLETED",
        None => running == desired,
    };
    Ok((deployments.len() == 1 && done, status))
}
