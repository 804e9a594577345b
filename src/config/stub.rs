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
        let name = zone_name(index, &entry.name, &invalid)?;
        if zones.iter().any(|zone| zone.name == name) {
            return Err(invalid(format!("[{index}] {name} is given twice")));
        }
        let servers = servers(index, &name, &entry.addresses, port, &invalid)?;
        zones.push(StubZone { name, servers });
    }
    Ok(zones)
}

/// The zone of entry `index` of a zone list, lowercase and absolute.
pub(super) fn zone_name(
    index: usize,
    text: &str,
    invalid: &impl Fn(String) -> ConfigError,
) -> Result<Name, ConfigError> {
    let mut name = Name::from_ascii(text)
        .map_err(|e| invalid(format!("[{index}] name {text:?}: {e}")))?
        .to_lowercase();
    name.set_fqdn(true);
    Ok(name)
}

/// The servers of entry `index` (zone `name`): at least one, each `"10.0.0.53"`,
/// `"10.0.0.53:5353"`, `"fd00::53"` or `"[::1]:53"`; without a port, `port`.
pub(super) fn servers(
    index: usize,
    name: &Name,
    addresses: &[String],
    port: u16,
    invalid: &impl Fn(String) -> ConfigError,
) -> Result<Vec<SocketAddr>, ConfigError> {
    if addresses.is_empty() {
        return Err(invalid(format!("[{index}] {name}: no addresses")));
    }
    addresses
        .iter()
        .map(|text| {
            text.parse::<SocketAddr>()
                .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, port)))
                .map_err(|_| invalid(format!("[{index}] {name}: bad address {text:?}")))
        })
        .collect()
}
