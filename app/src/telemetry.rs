//! Logging: JSON lines on stdout (or plain text for a terminal), filtered by `RUST_LOG`
//! (default `info`). Patient data never reaches a log line: domain types wrap it in `Phi<T>`,
//! whose `Debug`/`Display` print `[redacted]`, and handlers log ids and outcomes only.

use tracing_subscriber::{EnvFilter, fmt};

pub fn init(json: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,poem=warn"));
    let builder = fmt().with_env_filter(filter).with_target(false);
    // A second init (tests that build the app twice) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
