//! `[dns64]`: AAAA records synthesised from A records for IPv6-only clients (RFC 6147,
//! docs/configuration.md).

use std::path::Path;

use ipnet::Ipv6Net;
use scoped_recursor::Dns64Config;
use scoped_recursor::dns64::check_prefix;
use serde::Deserialize;

use super::ConfigError;

/// `[dns64]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Dns64Section {
    /// Synthesise AAAA records (off by default).
    pub enabled: bool,
    /// The prefix the IPv4 addresses are embedded in: `64:ff9b::/96` by default, or a
    /// network-specific prefix of length 32, 40, 48, 56, 64 or 96 (RFC 6052).
    pub prefix: Ipv6Net,
    /// AAAA records in these ranges are ignored, as if the name had none.
    pub exclude: Vec<Ipv6Net>,
}

impl Default for Dns64Section {
    fn default() -> Self {
        let engine = Dns64Config::default();
        Self {
            enabled: engine.enabled,
            prefix: engine.prefix,
            exclude: engine.exclude,
        }
    }
}

impl Dns64Section {
    /// The engine's settings; `path` is the configuration file (for messages).
    pub(super) fn resolve(self, path: &Path) -> Result<Dns64Config, ConfigError> {
        check_prefix(&self.prefix).map_err(|problem| ConfigError::Invalid {
            path: path.to_owned(),
            key: "dns64.prefix",
            problem,
        })?;
        Ok(Dns64Config {
            enabled: self.enabled,
            prefix: self.prefix,
            exclude: self.exclude,
        })
    }
}
