//! Certificates made at test time (rcgen), a server with DoT and DoH listeners on loopback, and
//! the tests' own rustls client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::FakeResolver;
use crate::{Certificates, FrontendStats, ServerConfig, TlsFiles, bind};

/// Upper bound on any single wait in these tests; they normally finish in milliseconds.
pub(crate) const PATIENCE: Duration = Duration::from_secs(5);

/// A fresh self-signed certificate for `localhost` and its key, written to `dir` as PEM.
pub(crate) fn write_pair(dir: &Path, name: &str) -> TlsFiles {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("rcgen");
    let files = TlsFiles {
        certificate: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.certificate, cert.cert.pem()).expect("write cert");
    std::fs::write(&files.key, cert.signing_key.serialize_pem()).expect("write key");
    files
}

/// A temporary directory for one test.
pub(crate) fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scoped-tls-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// The DER certificate in a PEM file.
pub(crate) fn der(files: &TlsFiles) -> CertificateDer<'static> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_file(&files.certificate).expect("pem")
}

/// A server with one DoT and one DoH listener on 127.0.0.1 (port 0), in the background.
pub(crate) struct EncryptedServer {
    pub(crate) dot: SocketAddr,
    pub(crate) doh: SocketAddr,
    pub(crate) stats: Arc<FrontendStats>,
    pub(crate) certificates: Arc<Certificates>,
    pub(crate) files: TlsFiles,
    pub(crate) dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl EncryptedServer {
    /// `config` with loopback DoT and DoH listeners and a fresh certificate added.
    pub(crate) fn start(test: &str, config: ServerConfig, resolver: FakeResolver) -> Self {
        Self::start_shared(test, config, Arc::new(resolver))
    }

    /// Like [`EncryptedServer::start`], keeping a handle on the engine to read what it was asked.
    pub(crate) fn start_shared(
        test: &str,
        config: ServerConfig,
        resolver: Arc<FakeResolver>,
    ) -> Self {
        let dir = temp_dir(test);
        let files = write_pair(&dir, "server");
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let server = bind(ServerConfig {
            listen: vec![loopback],
            dot_listen: vec![loopback],
            doh_listen: vec![loopback],
            tls: Some(files.clone()),
            ..config
        })
        .expect("bind");
        let dot = server.dot_addrs()[0];
        let doh = server.doh_addrs()[0];
        let stats = server.stats();
        let certificates = server.certificates().expect("certificates");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(resolver, async {
            let _ = stopped.await;
        }));
        Self {
            dot,
            doh,
            stats,
            certificates,
            files,
            dir,
            stop: Some(stop),
            task,
        }
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        timeout(PATIENCE, &mut self.task)
            .await
            .expect("run returns after shutdown")
            .expect("run");
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// The tests' rustls client, trusting `roots` only, offering `alpn`.
pub(crate) fn connector(roots: &[CertificateDer<'static>], alpn: &[&[u8]]) -> TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

/// A TLS connection to `addr` as `localhost`.
pub(crate) async fn connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    timeout(PATIENCE, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .expect("handshake")
}

/// Sends `message` framed as on TCP.
pub(crate) async fn send_framed(stream: &mut TlsStream<TcpStream>, wire: &[u8]) {
    let mut frame = u16::try_from(wire.len())
        .expect("fits")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(wire);
    stream.write_all(&frame).await.expect("write");
    stream.flush().await.expect("flush");
}

/// Reads one framed response: its raw bytes.
pub(crate) async fn read_framed(stream: &mut TlsStream<TcpStream>) -> Vec<u8> {
    let len = timeout(PATIENCE, stream.read_u16())
        .await
        .expect("in time")
        .expect("length");
    let mut body = vec![0u8; usize::from(len)];
    timeout(PATIENCE, stream.read_exact(&mut body))
        .await
        .expect("in time")
        .expect("body");
    body
}

pub(crate) fn parse(wire: &[u8]) -> Message {
    Message::from_vec(wire).expect("response parses")
}
