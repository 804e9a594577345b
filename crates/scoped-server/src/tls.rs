//! The certificate of the encrypted listeners (DoT, DoH), swappable while serving.
//!
//! [`Certificates`] holds the certificate chain and its signing key behind a lock and hands them
//! to rustls for every new handshake (it is the listeners' `ResolvesServerCert`). A reload reads
//! and checks the new files in full first, then swaps: a bad file keeps the old certificate, and
//! connections already open are never touched (their session keys do not depend on it).

use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// ALPN protocol of DNS over TLS (RFC 7858 §3.2 as registered by IANA).
pub const ALPN_DOT: &[u8] = b"dot";
/// ALPN protocols of DNS over HTTPS, preferred first.
pub const ALPN_DOH: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate or key could not be put in force.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is unreadable, not PEM, or holds no certificate.
    #[error("{path}: cannot read a PEM certificate chain: {reason}")]
    Certificate {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key file is unreadable or holds no private key.
    #[error("{path}: cannot read a PEM private key: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The key is of a kind rustls cannot sign with, or does not belong to the certificate.
    #[error("{0}")]
    Mismatch(String),
}

/// The certificate in force, shared by every encrypted listener; see the module docs.
pub struct Certificates {
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates").finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads `files` (at start, while still privileged: the key is often readable by root only).
    pub fn load(files: &TlsFiles) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(read_pair(files)?)),
        }))
    }

    /// Reads `files` again and, if they are good, serves them to every new connection from now
    /// on; if not, the certificate in force stays and the error says why.
    pub fn reload(&self, files: &TlsFiles) -> Result<(), TlsError> {
        let fresh = Arc::new(read_pair(files)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The leaf certificate in force (DER).
    pub fn leaf(&self) -> Option<CertificateDer<'static>> {
        let current = self.current();
        current
            .end_entity_cert()
            .ok()
            .map(|c| c.clone().into_owned())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The crypto rustls uses here: the same as the engine's DNS over TLS client
/// (`scoped_recursor::forward_tls::provider`, which says why *ring*).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    scoped_recursor::forward_tls::provider()
}

/// Reads and checks a certificate chain and its key.
fn read_pair(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let chain = read_chain(&files.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::Key {
        path: files.key.display().to_string(),
        reason: e.to_string(),
    })?;
    let pair = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        TlsError::Mismatch(format!(
            "{} and {}: {e}",
            files.certificate.display(),
            files.key.display()
        ))
    })?;
    Ok(pair)
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let problem = |reason: String| TlsError::Certificate {
        path: path.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| problem(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(e.to_string()))?;
    if chain.is_empty() {
        return Err(problem("no CERTIFICATE block".into()));
    }
    Ok(chain)
}

/// The rustls configuration of a listener offering `alpn`, with certificates from `certificates`
/// (TLS 1.2 and 1.3, no client certificates).
pub(crate) fn server_config(
    certificates: &Arc<Certificates>,
    alpn: &[&[u8]],
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let mut config = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::clone(certificates) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::tls_support::write_pair;

    fn dir(test: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("scoped-tls-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_reload_swaps_the_certificate_and_a_bad_one_keeps_the_old() {
        let dir = dir("reload");
        let first = write_pair(&dir, "first");
        let second = write_pair(&dir, "second");
        let certificates = Certificates::load(&first).expect("load");
        let before = certificates.leaf().expect("leaf");
        certificates.reload(&second).expect("reload");
        let after = certificates.leaf().expect("leaf");
        assert_ne!(before, after);

        // A key that is not the certificate's.
        let crossed = TlsFiles {
            certificate: first.certificate.clone(),
            key: second.key.clone(),
        };
        assert!(matches!(
            certificates.reload(&crossed),
            Err(TlsError::Mismatch(_))
        ));
        std::fs::write(&first.certificate, "not pem").expect("write");
        assert!(matches!(
            certificates.reload(&first),
            Err(TlsError::Certificate { .. })
        ));
        std::fs::remove_file(&second.key).expect("rm");
        assert!(matches!(
            certificates.reload(&second),
            Err(TlsError::Key { .. })
        ));
        assert_eq!(
            certificates.leaf().expect("leaf"),
            after,
            "the old one stays"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
