//! The log: human lines or JSON objects on stderr, filtered by `[log] level` (or `RUST_LOG`).
//! Colours only when stderr is a terminal (and `NO_COLOR` is unset): a file or the journal
//! gets plain text.

use std::io::IsTerminal;

use crate::config::LogFormat;

/// Installs the global subscriber.
pub fn init(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.with_ansi(colours()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Whether human lines may carry colour codes.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
