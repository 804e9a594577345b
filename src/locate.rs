//! Which configuration file `serve`, `trace` and `ctl` use when none is given:
//! `./resolver.toml` if present (the repository's, so `cargo run -- serve` from a checkout
//! keeps its loopback port 5353), else the installed `/etc/scoped/resolver.toml` if present,
//! else the built-in defaults.

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};

/// The file looked for in the working directory.
pub const LOCAL_CONFIG: &str = "resolver.toml";

/// The file the Debian package installs.
pub const SYSTEM_CONFIG: &str = "/etc/scoped/resolver.toml";

/// The file to read: `given`, else the first of [`LOCAL_CONFIG`] and [`SYSTEM_CONFIG`] that
/// exists; `None`: the built-in defaults.
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = given {
        return Some(path.to_owned());
    }
    [LOCAL_CONFIG, SYSTEM_CONFIG]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

/// The configuration and the file it came from (`None`: built-in defaults).
pub fn load(given: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
    match config_path(given) {
        Some(path) => Ok((Config::load(&path)?, Some(path))),
        None => Ok((Config::defaults(), None)),
    }
}

/// How the log and `trace` name the configuration in use.
pub fn describe(source: Option<&Path>) -> String {
    match source {
        Some(path) => {
            let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
            format!("configuration {}", absolute.display())
        }
        None => format!(
            "built-in default configuration (no --config, no ./{LOCAL_CONFIG}, no {SYSTEM_CONFIG})"
        ),
    }
}
