//! `[[forward-zones]]`: zones asked of recursive forwarders (a router, a company's resolver)
//! instead of being iterated (docs/configuration.md).

use std::path::Path;

use scoped_recursor::{ForwardZone, StubZone};
use serde::Deserialize;

use super::ConfigError;
use super::stub::{servers, zone_name};

/// One `[[forward-zones]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ForwardZoneEntry {
    /// The zone, e.g. `"corp.example."`; `"."` forwards everything.
    pub name: String,
    /// Its forwarders: `"10.0.0.53"`, `"10.0.0.53:5353"`, `"fd00::53"` or `"[::1]:53"`;
    /// without a port, `recursion.upstream-port` (53).
    pub addresses: Vec<String>,
    /// DNS over TLS to the forwarders, checking this name in their certificates. Not
    /// supported yet: refused with a message rather than silently sent in clear.
    pub tls_name: Option<String>,
}

/// The engine's forward zones; `port` is the default port, `stubs` the stub zones (a zone is
/// one or the other), `path` the file (for messages).
pub(super) fn resolve(
    entries: Vec<ForwardZoneEntry>,
    port: u16,
    stubs: &[StubZone],
    path: &Path,
) -> Result<Vec<ForwardZone>, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        path: path.to_owned(),
        key: "forward-zones",
        problem,
    };
    let mut zones: Vec<ForwardZone> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let name = zone_name(index, &entry.name, &invalid)?;
        if zones.iter().any(|zone| zone.name == name) {
            return Err(invalid(format!("[{index}] {name} is given twice")));
        }
        if stubs.iter().any(|stub| stub.name == name) {
            return Err(invalid(format!(
                "[{index}] {name} is also a stub zone: it is one or the other"
            )));
        }
        if let Some(tls_name) = entry.tls_name {
            return Err(invalid(format!(
                "[{index}] {name}: tls-name {tls_name:?}: DNS over TLS to forwarders is not \
                 supported yet; leave tls-name out to forward over UDP and TCP"
            )));
        }
        let servers = servers(index, &name, &entry.addresses, port, &invalid)?;
        zones.push(ForwardZone { name, servers });
    }
    Ok(zones)
}
