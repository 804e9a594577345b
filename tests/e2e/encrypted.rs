//! DNS over TLS and DNS over HTTPS through the real binary: `kdig +tls` and `kdig +https`
//! (knot-dnsutils) as real clients, our own rustls client for the certificate reload on SIGHUP.
//! The certificates are made at test time (rcgen), self-signed for `localhost`.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use scoped_testkit::standard_internet;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::lab::{CLIENT_TIMEOUT, Lab, query};

/// A self-signed certificate for `localhost` and its key, as PEM.
fn pem_pair() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// A port free on 127.0.0.1 right now (the listener is closed again at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A lab whose resolver also serves DoT and DoH with `cert.pem` / `key.pem`.
async fn encrypted_lab(cert: &str, key: &str) -> (Lab, SocketAddr, SocketAddr) {
    let dot: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let doh: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let files = [("cert.pem", cert), ("key.pem", key)];
    let lab = Lab::start_with_files(standard_internet(), &files, |config| {
        let server = config["server"].as_table_mut().unwrap();
        server.insert("dot-listen".into(), vec![dot.to_string()].into());
        server.insert("doh-listen".into(), vec![doh.to_string()].into());
        server.insert("tls-certificate".into(), "cert.pem".into());
        server.insert("tls-key".into(), "key.pem".into());
    })
    .await;
    (lab, dot, doh)
}

/// Whether kdig can be run; without it the kdig test is skipped, except in CI, where .ci/run
/// installs knot-dnsutils and a missing kdig is a failure.
fn kdig_available() -> bool {
    let found = Command::new("kdig")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kdig is missing in CI: .ci/run installs knot-dnsutils"
        );
        eprintln!("SKIPPED: kdig not installed (apt-get install knot-dnsutils)");
    }
    found
}

/// kdig's output for `www.example.com. A` over `transport` (`+tls` or `+https`).
async fn kdig(lab: &Lab, server: SocketAddr, transport: &str) -> String {
    let ca = format!("+tls-ca={}", lab.path("cert.pem").display());
    let args: Vec<String> = [
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        transport.into(),
        ca,
        "+tls-hostname=localhost".into(),
        "+timeout=5".into(),
        "+retry=0".into(),
        "www.example.com.".into(),
        "A".into(),
    ]
    .into();
    let output = tokio::task::spawn_blocking(move || Command::new("kdig").args(&args).output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("kdig {transport}:\n{text}");
    assert!(output.status.success(), "kdig {transport} failed: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kdig_over_tls_and_https_gets_answers_through_scoped() {
    if !kdig_available() {
        return;
    }
    let (cert, key) = pem_pair();
    let (lab, dot, doh) = encrypted_lab(&cert, &key).await;
    for (transport, server, shown) in [
        ("+tls", dot, ";; TLS session (TLS1.3)"),
        (
            "+https",
            doh,
            ";; HTTP session (HTTP/2-POST)-(localhost/dns-query)-(status: 200)",
        ),
        (
            "+https-get",
            doh,
            ";; HTTP session (HTTP/2-GET)-(localhost/dns-query)-(status: 200)",
        ),
    ] {
        let out = kdig(&lab, server, transport).await;
        assert!(out.contains(shown), "kdig {transport}: {out}");
        assert!(out.contains("status: NOERROR"), "{out}");
        assert!(out.contains("192.0.2.10"), "{out}");
        // kdig pads its queries over TLS (RFC 8467), so the answer is padded to a 468 B block.
        assert!(out.contains(";; PADDING: "), "{out}");
        assert!(out.contains(";; Received 468 B"), "{out}");
    }
}

/// Our client, trusting `roots` and offering ALPN `dot`; no session resumption across clients.
fn connector(roots: &[&str]) -> TlsConnector {
    let mut store = rustls::RootCertStore::empty();
    for pem in roots {
        store
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        #[allow(deprecated)]
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"dot".to_vec()];
    TlsConnector::from(Arc::new(config))
}

async fn connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(CLIENT_TIMEOUT, connector.connect(name, tcp))
        .await
        .expect("handshake in time")
        .unwrap()
}

async fn ask(stream: &mut TlsStream<TcpStream>, id: u16) -> Message {
    let wire = query(id, "www.example.com.", RecordType::A, Some(1232))
        .to_vec()
        .unwrap();
    let mut frame = (wire.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&wire);
    stream.write_all(&frame).await.unwrap();
    stream.flush().await.unwrap();
    let body = tokio::time::timeout(CLIENT_TIMEOUT, async {
        let len = stream.read_u16().await.unwrap();
        let mut body = vec![0u8; usize::from(len)];
        stream.read_exact(&mut body).await.unwrap();
        body
    })
    .await
    .expect("a DoT answer within the client timeout");
    Message::from_vec(&body).unwrap()
}

fn leaf(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_open_connections_keep_answering() {
    let (old_cert, old_key) = pem_pair();
    let (new_cert, new_key) = pem_pair();
    let (lab, dot, _) = encrypted_lab(&old_cert, &old_key).await;
    let old_der = CertificateDer::from_pem_slice(old_cert.as_bytes()).unwrap();
    let new_der = CertificateDer::from_pem_slice(new_cert.as_bytes()).unwrap();

    let mut open = connect(&connector(&[&old_cert, &new_cert]), dot).await;
    assert_eq!(leaf(&open), old_der);
    let answer = ask(&mut open, 1).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);

    // Renewal: the files are replaced in place, then SIGHUP.
    lab.write_file("cert.pem", &new_cert);
    lab.write_file("key.pem", &new_key);
    lab.sighup();
    let mut seen = None;
    for _ in 0..100 {
        let fresh = connect(&connector(&[&old_cert, &new_cert]), dot).await;
        if leaf(&fresh) == new_der {
            seen = Some(fresh);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut fresh = seen.expect("a new connection sees the new certificate within 5 s");
    assert!(!ask(&mut fresh, 2).await.answers.is_empty());
    let answer = ask(&mut open, 3).await;
    assert_eq!(
        answer.metadata.id, 3,
        "the connection opened before the reload answers"
    );
    assert!(!answer.answers.is_empty());

    // A key that does not belong to the certificate: the reload fails, nothing changes.
    lab.write_file("key.pem", &old_key);
    lab.sighup();
    let mut logged = false;
    for _ in 0..100 {
        if lab
            .stderr()
            .contains("keeping the old one and its certificate")
        {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(logged, "the failed reload is logged: {}", lab.stderr());
    let mut after = connect(&connector(&[&old_cert, &new_cert]), dot).await;
    assert_eq!(leaf(&after), new_der, "the certificate in force stays");
    assert!(!ask(&mut after, 4).await.answers.is_empty());
}
