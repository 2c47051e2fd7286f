//! What stands in front of every route: a request id and an access log line for each request,
//! and for the Vapi routes the body limit and the check that Vapi sent the request (HMAC over the
//! raw body, a secret header, or a bearer token; a signature already accepted is a replay). A
//! request that fails the check is audited as denied and answered 401 with no detail; none of
//! them reaches a tool. Every refusal for credentials, here or in a route (a practice's own
//! signer, the Sikka secrets), is audited by the one [`deny_and_audit`].

use std::{sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse, Request, Response, http::StatusCode};
use tracing::Instrument;

use super::{AppState, RequestMeta, problem::ProblemJson};
use crate::{
    audit::{AuditAction, AuditActor, AuditEvent, AuditOutcome},
    config::MAX_BODY_BYTES,
    vapi::auth::{AuthFailure, RequestParts},
};

/// Assigns the request id, logs one line per request, and guards `/vapi/*`.
pub async fn around<E: Endpoint>(
    state: Arc<AppState>,
    next: Arc<E>,
    mut req: Request,
) -> poem::Result<Response> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let source_ip = source_ip(&req);
    req.extensions_mut().insert(RequestMeta {
        request_id: request_id.clone(),
        source_ip,
        signed_by: None,
    });
    let span = tracing::info_span!("request", request_id = %request_id);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    async move {
        let mut resp = if let Err(refused) = read_body(&mut req, state.deadlines.body_read).await {
            refused
        } else if path.starts_with("/vapi/") {
            match guard(&state, &mut req).await {
                Ok(()) => next
                    .call(req)
                    .await
                    .map(IntoResponse::into_response)
                    .unwrap_or_else(|e| e.into_response()),
                Err(denied) => denied,
            }
        } else {
            next.call(req)
                .await
                .map(IntoResponse::into_response)
                .unwrap_or_else(|e| e.into_response())
        };
        if let Ok(value) = request_id.parse() {
            resp.headers_mut().insert("x-request-id", value);
        }
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            // RFC 9110: a 405 lists the methods the resource supports.
            let allow = if ["/vapi/", "/pms/", "/twilio/"]
                .iter()
                .any(|p| path.starts_with(p))
            {
                "POST"
            } else {
                "GET"
            };
            resp.headers_mut()
                .insert("allow", poem::http::HeaderValue::from_static(allow));
        }
        tracing::info!(
            method = %method,
            path = %path,
            status = resp.status().as_u16(),
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
        Ok(resp)
    }
    .instrument(span)
    .await
}

/// Reads the body of any request into memory, before any route, authentication or parser sees
/// it: at most [`MAX_BODY_BYTES`] (413 beyond), within `deadline` of the end of the headers (408
/// after it). A client can neither send an endless body nor hold a request open by trickling one.
async fn read_body(req: &mut Request, deadline: std::time::Duration) -> Result<(), Response> {
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(ProblemJson::too_large(MAX_BODY_BYTES).response());
    }
    let read = req.take_body().into_bytes_limit(MAX_BODY_BYTES);
    match tokio::time::timeout(deadline, read).await {
        Ok(Ok(body)) => {
            req.set_body(body);
            Ok(())
        }
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => {
            Err(ProblemJson::too_large(MAX_BODY_BYTES).response())
        }
        Ok(Err(_)) => {
            Err(ProblemJson::bad_request("The request body could not be read.").response())
        }
        Err(_) => Err(ProblemJson::new(
            StatusCode::REQUEST_TIMEOUT,
            "Request Timeout",
            format!(
                "The request body did not arrive within {} ms.",
                deadline.as_millis()
            ),
        )
        .response()),
    }
}

/// The client address: the last hop the load balancer appended, else the socket's peer.
fn source_ip(req: &Request) -> Option<String> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    forwarded.or_else(|| {
        req.remote_addr()
            .as_socket_addr()
            .map(|a| a.ip().to_string())
    })
}

async fn guard(state: &AppState, req: &mut Request) -> Result<(), Response> {
    let Some(auth) = &state.auth else {
        return Err(ProblemJson::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "No Vapi secret is configured (set VAPI_WEBHOOK_SECRET), so the gateway refuses tool calls.",
        )
        .response());
    };
    // Already read, bounded and in memory (see `read_body`).
    let body = req.take_body().into_bytes().await.unwrap_or_default();
    let url = match &state.public_base_url {
        Some(base) => format!(
            "{base}{}",
            req.uri().path_and_query().map_or("", |p| p.as_str())
        ),
        None => req.uri().to_string(),
    };
    let headers = req.headers();
    let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let parts = RequestParts {
        method: req.method().as_str(),
        url: &url,
        body: &body,
    };
    let now = state.receptionist.clock().now();
    let seen = &state.seen_signatures;
    // The gateway-wide secret, else a practice's own (which then binds the request to it).
    let verified = match auth.verify_once(&parts, &lookup, now, seen) {
        Ok(mac) => Ok((None, mac)),
        Err(failure) => state
            .practice_auth
            .current()
            .iter()
            .find_map(|(account, mode)| {
                let mac = mode
                    .as_ref()?
                    .verify_once(&parts, &lookup, now, seen)
                    .ok()?;
                Some((Some(account.clone()), mac))
            })
            .ok_or(failure),
    };
    // Accepted here: a replay to another task is refused there too.
    let verified = match verified {
        Ok((_, Some(mac))) if !seen.first_use_anywhere(&mac).await => Err(AuthFailure::Replayed),
        verified => verified.map(|(signed_by, _)| signed_by),
    };
    let signed_by = match verified {
        Ok(signed_by) => signed_by,
        Err(failure) => {
            let reason = failure.to_string();
            tracing::warn!(reason = %reason, mode = auth.describe(), "request denied");
            deny_and_audit(state, req, "vapi", reason).await;
            return Err(StatusCode::UNAUTHORIZED.into_response());
        }
    };
    if let Some(meta) = req.extensions_mut().get_mut::<RequestMeta>() {
        meta.signed_by = signed_by;
    }
    req.set_body(body);
    Ok(())
}

/// The one deny-and-audit: audits a request refused for its credentials (outcome denied) — who
/// (`actor`: `vapi`, `sikka`), which resource, its request id and source address, and why. The
/// caller answers 401 with no detail.
pub(in crate::api) async fn deny_and_audit(
    state: &AppState,
    req: &Request,
    actor: &str,
    reason: String,
) {
    let meta = req.extensions().get::<RequestMeta>();
    let event = AuditEvent {
        action: AuditAction::Authenticate,
        outcome: AuditOutcome::Denied,
        resource: req.uri().path().to_owned(),
        account_id: None,
        actor: AuditActor {
            kind: actor.into(),
            ..Default::default()
        },
        patient_ids: Vec::new(),
        request_id: meta.map(|m| m.request_id.clone()),
        source_ip: meta.and_then(|m| m.source_ip.clone()),
        reason: Some(reason),
    };
    if let Err(e) = state.receptionist.audit().record(event).await {
        tracing::error!(error = %e, actor, "audit entry for a denied request failed");
    }
}
