//! `[[forward-zones]]`: zones asked of recursive forwarders (a router, a company's resolver)
//! instead of being iterated (docs/configuration.md).

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use scoped_recursor::forward_tls::DOT_PORT;
use scoped_recursor::{ForwardTls, ForwardTlsError, ForwardZone, StubZone};
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
    /// DNS over TLS (RFC 7858) to the forwarders, checking this name in their certificates;
    /// addresses without a port are then on port 853.
    pub tls_name: Option<String>,
    /// A PEM file of CA certificates trusted for this zone's forwarders besides the built-in
    /// roots (an internal CA), relative to the configuration file. Needs `tls-name`.
    pub tls_ca_file: Option<PathBuf>,
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
        let tls =
            tls(&entry, path).map_err(|problem| invalid(format!("[{index}] {name}: {problem}")))?;
        let port = if tls.is_some() { DOT_PORT } else { port };
        let servers = servers(index, &name, &entry.addresses, port, &invalid)?;
        zones.push(ForwardZone { name, servers, tls });
    }
    Ok(zones)
}

/// The DNS over TLS setting of an entry: `tls-name`, with the extra roots of `tls-ca-file`
/// (relative to the configuration file at `path`).
fn tls(entry: &ForwardZoneEntry, path: &Path) -> Result<Option<ForwardTls>, String> {
    let Some(tls_name) = &entry.tls_name else {
        return match &entry.tls_ca_file {
            Some(_) => Err("tls-ca-file is for DNS over TLS: it needs tls-name".to_owned()),
            None => Ok(None),
        };
    };
    let (lines, roots): (Vec<usize>, Vec<_>) = match &entry.tls_ca_file {
        Some(file) => {
            let full = path.parent().unwrap_or(Path::new(".")).join(file);
            read_ca_file(&full)
                .map_err(|problem| format!("tls-ca-file {}: {problem}", full.display()))?
                .into_iter()
                .unzip()
        }
        None => (Vec::new(), Vec::new()),
    };
    ForwardTls::new(tls_name, roots)
        .map(Some)
        .map_err(|error| match error {
            ForwardTlsError::BadCertificate { index, error } if index > 0 => {
                let line = lines[index - 1];
                let file = entry.tls_ca_file.as_deref().unwrap_or(Path::new(""));
                format!(
                    "tls-ca-file {}: the certificate at line {line}: {error}",
                    file.display()
                )
            }
            error => format!("tls-name: {error}"),
        })
}

/// The certificates of a PEM file, each with the line its block begins on. Text outside the
/// blocks (comments, as in CA bundles) is skipped; a block of another kind, a block without its
/// end, bad base64 or a file without any certificate is an error naming the line.
pub(super) fn read_ca_file(full: &Path) -> Result<Vec<(usize, CertificateDer<'static>)>, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::fs::read_to_string(full).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (number, line) in (1..).zip(text.lines()) {
        let line = line.trim();
        match &mut block {
            None if line == BEGIN => block = Some((number, format!("{BEGIN}\n"))),
            None if line.starts_with("-----") => {
                return Err(format!(
                    "line {number}: {line}: only CERTIFICATE blocks belong in a CA file"
                ));
            }
            None => {}
            Some((start, pem)) if line == END => {
                pem.push_str(END);
                pem.push('\n');
                let der = CertificateDer::from_pem_slice(pem.as_bytes())
                    .map_err(|e| format!("the certificate at line {start}: {e}"))?;
                certs.push((*start, der));
                block = None;
            }
            Some((start, _)) if line.starts_with("-----") => {
                return Err(format!(
                    "line {number}: {line} inside the certificate begun at line {start}"
                ));
            }
            Some((_, pem)) => {
                pem.push_str(line);
                pem.push('\n');
            }
        }
    }
    if let Some((start, _)) = block {
        return Err(format!("the certificate at line {start} has no {END} line"));
    }
    if certs.is_empty() {
        return Err("no certificate in it (PEM, -----BEGIN CERTIFICATE----- blocks)".to_owned());
    }
    Ok(certs)
}
