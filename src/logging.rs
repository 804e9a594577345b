//! The log: human lines or JSON objects on stderr, or with `[log] journald = true` entries
//! sent straight to the systemd journal (its native protocol: one entry per event, every field
//! a journal field), filtered by `[log] level` (or `RUST_LOG`, which then wins over the file,
//! reloads included). Colours only when stderr is a terminal (and `NO_COLOR` is unset): a file
//! or the journal gets plain text. JSON lines keep every field typed (`json.rs`). The filter
//! can be replaced while running ([`LogLevel::set`], on reload).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

use crate::config::LogFormat;

/// The handle that changes the log filter of a running process.
#[derive(Clone)]
pub struct LogLevel {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
    /// `RUST_LOG` was set and valid: it stays in force.
    from_env: bool,
}

impl LogLevel {
    /// A handle that changes nothing (no subscriber installed by [`init`]).
    pub fn none() -> LogLevel {
        LogLevel {
            handle: None,
            from_env: false,
        }
    }

    /// Puts `level` (a validated `[log] level`) in force, unless `RUST_LOG` decides.
    pub fn set(&self, level: &str) -> Result<(), String> {
        let Some(handle) = &self.handle else {
            return Ok(());
        };
        if self.from_env {
            return Ok(());
        }
        let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }
}

/// Where the journal's socket is: `[log] journald = true` needs it.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Installs the global subscriber; the handle changes its filter later. Fails, installing
/// nothing, only when `journald` is asked for and the journal cannot be reached.
pub fn init(format: LogFormat, level: &str, journald: bool) -> Result<LogLevel, String> {
    let (filter, from_env) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, true),
        Err(_) => (EnvFilter::new(level), false),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    if journald {
        let layer = tracing_journald::layer().map_err(|e| {
            format!(
                "[log] journald = true, but the systemd journal cannot be reached at \
                 {JOURNAL_SOCKET}: {e} (run under systemd, or set journald = false to log \
                 to stderr)"
            )
        })?;
        registry
            .with(layer.with_syslog_identifier("scoped".into()))
            .init();
    } else {
        match format {
            LogFormat::Human => registry
                .with(
                    fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_ansi(colours()),
                )
                .init(),
            LogFormat::Json => registry
                .with(
                    fmt::layer()
                        .event_format(json::JsonLines)
                        .with_writer(std::io::stderr)
                        .with_ansi(false),
                )
                .init(),
        }
    }
    Ok(LogLevel {
        handle: Some(handle),
        from_env,
    })
}

/// Whether human lines may carry colour codes.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

mod json;
