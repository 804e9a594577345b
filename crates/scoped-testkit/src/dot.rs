//! One server of an [`Internet`] served over DNS over TLS (RFC 7858) on loopback, for the tests
//! of DoT to forwarders: a tokio-rustls listener with a certificate made when it starts
//! (self-signed: a client trusts it as its own CA), answering each framed query as the server
//! would (its behaviour, the query log) and counting the connections it accepted and the
//! queries it read. It can answer queries in batches, in reverse order (to show that a client
//! pipelines and matches replies by ID), and close its connections on demand (as a server
//! closing idle connections does). Dropping the [`DotServer`] stops it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use scoped_recursor::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::internet::{Internet, ServerState};

/// How a [`DotServer`] answers.
#[derive(Clone, Copy, Debug)]
pub struct DotOptions {
    /// Replies are held until this many queries have come on the connection, then sent
    /// last-first. 1: each answered as it comes (after the server's delay).
    pub batch: usize,
}

impl Default for DotOptions {
    fn default() -> Self {
        Self { batch: 1 }
    }
}

/// A DNS over TLS server on loopback. Drop it to stop it.
#[derive(Debug)]
pub struct DotServer {
    addr: SocketAddr,
    certificate: CertificateDer<'static>,
    pem: String,
    accepts: Arc<AtomicUsize>,
    queries: Arc<AtomicUsize>,
    counts: Arc<Counts>,
    close: watch::Sender<u64>,
    /// The listener and its connections: dropped with the server, they stop.
    _tasks: JoinSet<()>,
}

impl DotServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its certificate (self-signed), to trust as a CA.
    pub fn certificate(&self) -> CertificateDer<'static> {
        self.certificate.clone()
    }

    /// Its certificate in PEM, for a CA file.
    pub fn certificate_pem(&self) -> &str {
        &self.pem
    }

    /// TCP connections accepted so far (handshakes tried).
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Queries read so far, all connections together (only after a handshake succeeded).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Connections the client closed (EOF or error from its side).
    pub fn closed_by_client(&self) -> usize {
        self.counts.closed_by_client.load(Ordering::SeqCst)
    }

    /// The most queries one connection had read and not yet answered at once.
    pub fn max_outstanding(&self) -> usize {
        self.counts.max_outstanding.load(Ordering::SeqCst)
    }

    /// Close every open connection now (close_notify, then FIN), as a server that closes
    /// idle connections does. The listener goes on accepting.
    pub fn close_connections(&self) {
        self.close.send_modify(|generation| *generation += 1);
    }
}

impl Internet {
    /// Serve the server at `ip` (a loopback address of this internet) over DNS over TLS on
    /// `ip` at a free port, with a certificate for `names` made now.
    pub async fn serve_dot(
        &self,
        ip: IpAddr,
        names: &[&str],
        options: DotOptions,
    ) -> io::Result<DotServer> {
        let state = self
            .inner
            .servers
            .get(&ip)
            .cloned()
            .ok_or_else(|| io::Error::other(format!("no server at {ip}")))?;
        let made = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )
        .map_err(io::Error::other)?;
        let certificate = made.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.signing_key.serialize_der()));
        let config =
            rustls::ServerConfig::builder_with_provider(scoped_recursor::forward_tls::provider())
                .with_safe_default_protocol_versions()
                .map_err(io::Error::other)?
                .with_no_client_auth()
                .with_single_cert(vec![certificate.clone()], key)
                .map_err(io::Error::other)?;
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let accepts = Arc::new(AtomicUsize::new(0));
        let queries = Arc::new(AtomicUsize::new(0));
        let (close, _) = watch::channel(0);
        let counts = Arc::new(Counts::default());
        let mut tasks = JoinSet::new();
        let serving = Serving {
            internet: self.clone(),
            state,
            addr,
            queries: queries.clone(),
            counts: counts.clone(),
            close: close.clone(),
            options,
        };
        tasks.spawn(accept_loop(
            listener,
            TlsAcceptor::from(Arc::new(config)),
            serving,
            accepts.clone(),
        ));
        Ok(DotServer {
            addr,
            certificate,
            pem: made.cert.pem(),
            accepts,
            queries,
            counts,
            close,
            _tasks: tasks,
        })
    }
}

/// What the connections count together.
#[derive(Debug, Default)]
struct Counts {
    closed_by_client: AtomicUsize,
    max_outstanding: AtomicUsize,
}

/// What every connection of one server needs.
#[derive(Clone)]
struct Serving {
    internet: Internet,
    state: Arc<ServerState>,
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    counts: Arc<Counts>,
    close: watch::Sender<u64>,
    options: DotOptions,
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    serving: Serving,
    accepts: Arc<AtomicUsize>,
) {
    let mut connections = JoinSet::new();
    while let Ok((tcp, source)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        accepts.fetch_add(1, Ordering::SeqCst);
        if !source.ip().is_loopback() {
            continue;
        }
        connections.spawn(connection(tcp, source, acceptor.clone(), serving.clone()));
    }
}

/// One connection: the handshake, then queries read and answered until EOF or a close.
async fn connection(tcp: TcpStream, source: SocketAddr, acceptor: TlsAcceptor, s: Serving) {
    let mut close = s.close.subscribe();
    let _ = tcp.set_nodelay(true);
    let Ok(stream) = acceptor.accept(tcp).await else {
        return;
    };
    let (mut read, write) = tokio::io::split(stream);
    let (replies, outgoing) = mpsc::unbounded_channel();
    // Queries read and not yet answered on this connection.
    let outstanding = Arc::new(AtomicUsize::new(0));
    let writer = tokio::spawn(write_loop(write, outgoing, outstanding.clone()));
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        let query = tokio::select! {
            query = read_framed(&mut read) => match query {
                Ok(query) => query,
                Err(_) => {
                    s.counts.closed_by_client.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            },
            _ = close.changed() => break,
        };
        s.queries.fetch_add(1, Ordering::SeqCst);
        let now = outstanding.fetch_add(1, Ordering::SeqCst) + 1;
        s.counts.max_outstanding.fetch_max(now, Ordering::SeqCst);
        let handled = s
            .internet
            .handle(&s.state, s.addr, &query, source, Protocol::Tcp);
        if s.options.batch > 1 {
            held.extend(handled.replies);
            if held.len() >= s.options.batch {
                for reply in held.drain(..).rev() {
                    let _ = replies.send(reply);
                }
            }
            continue;
        }
        let replies = replies.clone();
        tokio::spawn(async move {
            tokio::time::sleep(handled.delay).await;
            for reply in handled.replies {
                let _ = replies.send(reply);
            }
        });
    }
    // The writer sends what is queued, then close_notify and FIN.
    drop(replies);
    let _ = writer.await;
}

async fn write_loop(
    mut write: WriteHalf<TlsStream<TcpStream>>,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
    outstanding: Arc<AtomicUsize>,
) {
    while let Some(reply) = outgoing.recv().await {
        let _ = outstanding.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        let Ok(len) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(2 + reply.len());
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if write.write_all(&framed).await.is_err() || write.flush().await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

async fn read_framed(read: &mut ReadHalf<TlsStream<TcpStream>>) -> io::Result<Vec<u8>> {
    let len = usize::from(read.read_u16().await?);
    let mut body = vec![0u8; len];
    read.read_exact(&mut body).await?;
    Ok(body)
}
