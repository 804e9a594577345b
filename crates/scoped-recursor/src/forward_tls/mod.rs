//! DNS over TLS (RFC 7858) to a forward zone's forwarders (`tls-name`).
//!
//! A [`ForwardTls`] is one zone's TLS setting: the name every forwarder's certificate must
//! carry, the trust roots (Mozilla's, compiled in from `webpki-roots`, plus any extra CA
//! certificates the operator gives), and the open connections, one per forwarder address.
//! Queries to a forwarder are pipelined on its one connection (RFC 7766 §6.2.1: several
//! outstanding at once, replies matched by ID in whatever order they come; `conn.rs`). A
//! connection idle for [`IDLE_TIMEOUT`] is closed; a closed one is opened again by the next
//! query; a query on a connection that the forwarder closed under it is sent once more on a new
//! connection. rustls resumes TLS sessions on reconnection by itself (its client configuration
//! keeps a small in-memory session store), so a reconnection is usually one round trip shorter.
//!
//! A failed handshake (a certificate that does not match `tls-name`, an unknown issuer) is a
//! failed server, logged with the reason: the query is never sent in clear text instead.

mod conn;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tracing::{debug, warn};

use crate::counters::bump;
use crate::engine::EngineStats;
use crate::transport::{TransportError, UpstreamQuery, reply_matches};
use conn::{Conn, Sent};

/// The port of DNS over TLS (RFC 7858 §3.1), used when a forwarder's address gives none.
pub const DOT_PORT: u16 = 853;
/// A connection without outstanding queries for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many queries outstanding on one connection; more wait for a reply.
pub const MAX_OUTSTANDING: usize = 64;

/// How long a zone's connections stay idle and how many queries each carries at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A connection without outstanding queries for this long is closed.
    pub idle_timeout: Duration,
    /// At most this many queries outstanding on one connection; more wait for a reply.
    pub max_outstanding: usize,
}

impl Default for ConnectionLimits {
    /// [`IDLE_TIMEOUT`] and [`MAX_OUTSTANDING`].
    fn default() -> Self {
        Self {
            idle_timeout: IDLE_TIMEOUT,
            max_outstanding: MAX_OUTSTANDING,
        }
    }
}

/// Why a `tls-name` setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ForwardTlsError {
    /// The name is neither a DNS name nor an IP address.
    #[error("{0:?} is not a name a certificate can be checked against")]
    BadName(String),
    /// An extra CA certificate rustls cannot use as a trust root.
    #[error("certificate #{index}: {error}")]
    BadCertificate {
        /// Its position among the extra certificates, from 1.
        index: usize,
        /// What rustls said.
        error: rustls::Error,
    },
}

/// One forward zone's DNS over TLS: the name checked, the roots trusted, the open connections.
/// Two are equal when they check the same name against the same extra roots; a clone shares
/// the connections.
#[derive(Clone)]
pub struct ForwardTls {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    server_name: ServerName<'static>,
    extra_roots: Vec<CertificateDer<'static>>,
    limits: ConnectionLimits,
    connector: TlsConnector,
    /// Per forwarder: its connection.
    conns: Mutex<HashMap<SocketAddr, Arc<Slot>>>,
}

/// One forwarder's connection, behind an async lock held while one is opened, so that queries
/// arriving meanwhile wait for it rather than open their own.
type Slot = tokio::sync::Mutex<Option<Arc<Conn>>>;

impl ForwardTls {
    /// Forwarders whose certificates must be valid for `name`, issued under Mozilla's roots or
    /// one of `extra_roots` (DER), with the default [`ConnectionLimits`].
    pub fn new(
        name: &str,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> Result<Self, ForwardTlsError> {
        Self::with_limits(name, extra_roots, ConnectionLimits::default())
    }

    /// [`new`](Self::new) with other connection limits.
    pub fn with_limits(
        name: &str,
        extra_roots: Vec<CertificateDer<'static>>,
        limits: ConnectionLimits,
    ) -> Result<Self, ForwardTlsError> {
        let server_name = ServerName::try_from(name.trim_end_matches('.').to_owned())
            .map_err(|_| ForwardTlsError::BadName(name.to_owned()))?;
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for (i, cert) in extra_roots.iter().enumerate() {
            roots
                .add(cert.clone())
                .map_err(|error| ForwardTlsError::BadCertificate {
                    index: i + 1,
                    error,
                })?;
        }
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|error| ForwardTlsError::BadCertificate { index: 0, error })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // RFC 7858 §3.2 registers "dot"; a server that ignores ALPN is fine too.
        config.alpn_protocols = vec![b"dot".to_vec()];
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                server_name,
                extra_roots,
                limits,
                connector: TlsConnector::from(Arc::new(config)),
                conns: Mutex::default(),
            }),
        })
    }

    /// The name checked in the forwarders' certificates, as configured.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether `self` and `other` share their connections (not only equal settings).
    pub fn same_connections(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Send `query` (its `server`, `message` and `timeout`; the protocol is ignored) over the
    /// forwarder's TLS connection, opening one if none is open, and return the reply that
    /// matches it. The whole of it — connecting, handshake, waiting for a slot, the reply — is
    /// bounded by the query's timeout.
    pub(crate) async fn exchange(
        &self,
        query: UpstreamQuery,
        stats: &EngineStats,
    ) -> Result<Vec<u8>, TransportError> {
        tokio::time::timeout(query.timeout, self.exchange_now(&query, stats))
            .await
            .unwrap_or(Err(TransportError::Timeout(query.timeout)))
    }

    async fn exchange_now(
        &self,
        query: &UpstreamQuery,
        stats: &EngineStats,
    ) -> Result<Vec<u8>, TransportError> {
        let (conn, fresh) = self.connection(query.server, stats).await?;
        if !fresh {
            bump(&stats.forward_tls_reused);
        }
        let reply = match conn.exchange(&query.message).await {
            // The forwarder closed the connection before this query was answered (an idle
            // close crossing our query): once more, on a new connection.
            Err(Sent::Closed) if !fresh => {
                debug!(server = %query.server, "DoT connection closed under a query; reconnecting");
                let (conn, _) = self.connection(query.server, stats).await?;
                conn.exchange(&query.message).await
            }
            other => other,
        };
        let reply = reply.map_err(|sent| sent.into_error(query.server))?;
        // As over TCP: the question and the ECS echo must match (E11); whether an echo was
        // required is the exchange plan's call (E12), made on the reply.
        if reply_matches(&query.message, &reply) {
            Ok(reply)
        } else {
            Err(TransportError::Framing(
                "DoT reply does not match the query",
            ))
        }
    }

    /// The open connection to `server`, or a new one (then `true`).
    async fn connection(
        &self,
        server: SocketAddr,
        stats: &EngineStats,
    ) -> Result<(Arc<Conn>, bool), TransportError> {
        let slot = {
            let mut conns = self.inner.conns.lock().unwrap_or_else(|e| e.into_inner());
            conns.entry(server).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref().filter(|conn| conn.is_open()) {
            return Ok((conn.clone(), false));
        }
        *slot = None;
        let conn = Arc::new(self.connect(server, stats).await?);
        *slot = Some(conn.clone());
        Ok((conn, true))
    }

    /// A TCP connection to `server` and the TLS handshake on it, the certificate checked
    /// against the configured name.
    async fn connect(
        &self,
        server: SocketAddr,
        stats: &EngineStats,
    ) -> Result<Conn, TransportError> {
        let tcp = TcpStream::connect(server).await?;
        tcp.set_nodelay(true)?;
        let name = self.inner.server_name.clone();
        match self.inner.connector.connect(name, tcp).await {
            Ok(stream) => {
                bump(&stats.forward_tls_connections);
                let resumed =
                    stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                if resumed {
                    bump(&stats.forward_tls_resumed);
                }
                debug!(%server, name = %self.inner.name, resumed, "DoT connection to forwarder open");
                let limits = self.inner.limits;
                Ok(Conn::start(
                    stream,
                    limits.idle_timeout,
                    limits.max_outstanding,
                ))
            }
            Err(error) => {
                bump(&stats.forward_tls_handshake_failures);
                warn!(
                    %server,
                    tls_name = %self.inner.name,
                    %error,
                    "DNS over TLS to forwarder: handshake failed; server counted as failed, nothing sent in clear"
                );
                Err(TransportError::Tls(error))
            }
        }
    }
}

/// The crypto rustls uses, for the front end's DoT and DoH as for this client: *ring*
/// (aws-lc-rs would need cmake and a C toolchain in every build). rustls 0.23.48 deprecates it
/// for lacking post-quantum key exchange: classical X25519 / P-256 key exchange is what DNS
/// over TLS servers and clients offer today.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl PartialEq for ForwardTls {
    fn eq(&self, other: &Self) -> bool {
        self.inner.name == other.inner.name
            && self.inner.extra_roots == other.inner.extra_roots
            && self.inner.limits == other.inner.limits
    }
}

impl Eq for ForwardTls {}

impl fmt::Debug for ForwardTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardTls")
            .field("name", &self.inner.name)
            .field("extra_roots", &self.inner.extra_roots.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_no_certificate_can_hold_is_refused() {
        let err = ForwardTls::new("dns corp", Vec::new()).unwrap_err();
        assert!(matches!(err, ForwardTlsError::BadName(_)), "{err}");
        // A DNS name (a trailing dot is allowed) or an IP address is fine.
        assert_eq!(
            ForwardTls::new("dns.quad9.net.", Vec::new())
                .unwrap()
                .name(),
            "dns.quad9.net."
        );
        assert!(ForwardTls::new("9.9.9.9", Vec::new()).is_ok());
    }

    #[test]
    fn an_extra_root_that_is_no_certificate_is_refused_by_its_position() {
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let err = ForwardTls::new("dns.corp.example", vec![junk]).unwrap_err();
        assert!(
            matches!(err, ForwardTlsError::BadCertificate { index: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn equal_settings_compare_equal_but_only_clones_share_connections() {
        let a = ForwardTls::new("dns.corp.example", Vec::new()).unwrap();
        let b = ForwardTls::new("dns.corp.example", Vec::new()).unwrap();
        let other = ForwardTls::new("dns2.corp.example", Vec::new()).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert!(!a.same_connections(&b));
        assert!(a.same_connections(&a.clone()));
        let short = ConnectionLimits {
            idle_timeout: Duration::from_secs(1),
            ..ConnectionLimits::default()
        };
        let c = ForwardTls::with_limits("dns.corp.example", Vec::new(), short).unwrap();
        assert_ne!(a, c);
    }
}
