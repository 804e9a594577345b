//! `[[stub-zones]]`: zones iterated from their own authoritative servers, given by address
//! (docs/configuration.md).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use hickory_proto::rr::Name;
use scoped_recursor::StubZone;
use serde::Deserialize;

use super::ConfigError;

/// One `[[stub-zones]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StubZoneEntry {
    /// The zone's apex, e.g. `"corp.example."`.
    pub name: String,
    /// Its authoritative servers: `"10.0.0.53"`, `"10.0.0.53:5300"`, `"fd00::53"` or
    /// `"[fd00::53]:5300"`; without a port, `recursion.upstream-port` (53).
    pub addresses: Vec<String>,
}

/// The engine's stub zones; `port` is the default port, `path` the file (for messages).
pub(super) fn resolve(
    entries: Vec<StubZoneEntry>,
    port: u16,
    path: &Path,
) -> Result<Vec<StubZone>, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        path: path.to_owned(),
        key: "stub-zones",
        problem,
    };
    let mut zones: Vec<StubZone> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let mut name = Name::from_ascii(&entry.name)
            .map_err(|e| invalid(format!("[{index}] name {:?}: {e}", entry.name)))?
            .to_lowercase();
        name.set_fqdn(true);
        if zones.iter().any(|zone| zone.name == name) {
            return Err(invalid(format!("[{index}] {name} is given twice")));
        }
        if entry.addresses.is_empty() {
            return Err(invalid(format!("[{index}] {name}: no addresses")));
        }
        let servers = entry
            .addresses
            .iter()
            .map(|text| {
                text.parse::<SocketAddr>()
                    .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, port)))
                    .map_err(|_| invalid(format!("[{index}] {name}: bad address {text:?}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        zones.push(StubZone { name, servers });
    }
    Ok(zones)
}
