//! The log: human lines or JSON objects on stderr, filtered by `[log] level` (or `RUST_LOG`,
//! which then wins over the file, reloads included). Colours only when stderr is a terminal
//! (and `NO_COLOR` is unset): a file or the journal gets plain text. The filter can be
//! replaced while running ([`LogLevel::set`], on reload).

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

/// Installs the global subscriber; the handle changes its filter later.
pub fn init(format: LogFormat, level: &str) -> LogLevel {
    let (filter, from_env) = match EnvFilter::try_from_default_env() {
        Ok(filter) => (filter, true),
        Err(_) => (EnvFilter::new(level), false),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
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
                    .json()
                    .with_writer(std::io::stderr)
                    .with_ansi(false),
            )
            .init(),
    }
    LogLevel {
        handle: Some(handle),
        from_env,
    }
}

/// Whether human lines may carry colour codes.
fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
