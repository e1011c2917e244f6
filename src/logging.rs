//! Structured logs through `tracing`: `RUST_LOG` filters (default `info`), text or JSON
//! (`SHIPGATE_LOG_FORMAT=json`). Webhook handling runs inside a span that carries the
//! delivery GUID, so every line about a delivery names it.
//! Must not: format bodies, secrets or tokens (callers log ids and kinds, never values).

use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,octocrab=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    // A second init (tests starting several instances) keeps the first subscriber.
    let _ = result;
}
