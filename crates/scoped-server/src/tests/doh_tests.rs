//! DNS over HTTPS on loopback: hyper's HTTP/2 and HTTP/1.1 clients over the tests' own rustls
//! client, against a certificate made at test time.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::EdnsOption;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::tls_support::{EncryptedServer, connect, connector, der, parse};
use super::{FakeResolver, query, wire, with_options};
use crate::padding::{PADDING_OPTION_CODE, RESPONSE_BLOCK};
use crate::{DNS_MESSAGE, ServerConfig};

const H2: &[u8] = b"h2";
const HTTP1: &[u8] = b"http/1.1";

/// An HTTP/2 or HTTP/1.1 client on one TLS connection.
enum Client {
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
}

/// What came back: status, headers, body.
type Answer = (StatusCode, HeaderMap, Vec<u8>);

impl Client {
    /// Connects offering only `alpn` and checks the server agreed.
    async fn connect(server: &EncryptedServer, alpn: &'static [u8]) -> Self {
        let tls = connect(&connector(&[der(&server.files)], &[alpn]), server.doh).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn));
        let io = TokioIo::new(tls);
        if alpn == H2 {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .expect("h2 handshake");
            tokio::spawn(connection);
            Self::H2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("http/1.1 handshake");
            tokio::spawn(connection);
            Self::H1(sender)
        }
    }

    async fn send(&mut self, request: Request<Full<Bytes>>) -> Answer {
        let response = match self {
            Self::H2(sender) => sender.send_request(request).await,
            Self::H1(sender) => sender.send_request(request).await,
        }
        .expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("body").to_bytes().to_vec();
        (parts.status, parts.headers, body)
    }

    async fn get(&mut self, path_and_query: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::get(format!("https://localhost{path_and_query}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Full::default()).expect("request"))
            .await
    }

    async fn post(&mut self, content_type: &str, body: Vec<u8>) -> Answer {
        let request = Request::post("https://localhost/dns-query")
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        self.send(request).await
    }
}

fn get_path(message: &[u8]) -> String {
    format!("/dns-query?dns={}", URL_SAFE_NO_PAD.encode(message))
}

fn resolver() -> FakeResolver {
    FakeResolver::new().with_a("www.example.", RecordType::A, 2)
}

#[tokio::test]
async fn get_and_post_are_answered_over_h2_and_http1_with_max_age_the_smallest_ttl() {
    let server = EncryptedServer::start("doh-methods", ServerConfig::default(), resolver());
    for alpn in [H2, HTTP1] {
        let mut client = Client::connect(&server, alpn).await;
        let message = wire(&query(0, "www.example.", RecordType::A));
        let by_get = client.get(&get_path(&message), &[]).await;
        let by_post = client.post(DNS_MESSAGE, message).await;
        for (status, headers, body) in [by_get, by_post] {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers[CONTENT_TYPE], DNS_MESSAGE);
            // The fake engine's records all have TTL 300.
            assert_eq!(headers[CACHE_CONTROL], "max-age=300");
            let response = parse(&body);
            assert_eq!(response.metadata.response_code, ResponseCode::NoError);
            assert_eq!(response.answers.len(), 2);
        }
        // A name the fake engine does not know: NXDOMAIN with its SOA (TTL 60 in the fake).
        let (status, headers, body) = client
            .get(
                &get_path(&wire(&query(0, "nowhere.example.", RecordType::A))),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(parse(&body).metadata.response_code, ResponseCode::NXDomain);
        let soa_ttl = parse(&body).authorities[0].ttl;
        assert_eq!(
            headers[CACHE_CONTROL],
            format!("max-age={soa_ttl}").as_str()
        );
    }
    let stats = server.stats.snapshot();
    assert_eq!((stats.queries_doh, stats.doh_accepted), (6, 2));
    server.stop().await;
}

#[tokio::test]
async fn bad_requests_get_400_404_405_or_415() {
    let server = EncryptedServer::start("doh-bad", ServerConfig::default(), resolver());
    let message = wire(&query(0, "www.example.", RecordType::A));
    let mut client = Client::connect(&server, H2).await;
    let status = |answer: Answer| answer.0;
    assert_eq!(
        status(client.post("text/plain", message.clone()).await),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        status(client.get("/dns-query?dns=***", &[]).await),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(client.get("/dns-query?name=www.example", &[]).await),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(client.get(&get_path(&[0, 1, 2]), &[]).await),
        StatusCode::BAD_REQUEST,
        "shorter than a DNS header"
    );
    let elsewhere = get_path(&message).replace("/dns-query", "/resolve");
    assert_eq!(
        status(client.get(&elsewhere, &[]).await),
        StatusCode::NOT_FOUND
    );
    let put = Request::builder()
        .method(Method::PUT)
        .uri("https://localhost/dns-query")
        .header(CONTENT_TYPE, DNS_MESSAGE)
        .body(Full::new(Bytes::from(message.clone())))
        .expect("request");
    assert_eq!(
        status(client.send(put).await),
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        status(client.post(DNS_MESSAGE, vec![0; 70_000]).await),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Padded base64 is accepted too.
    let padded = format!(
        "/dns-query?dns={}",
        base64::engine::general_purpose::URL_SAFE.encode(&message)
    );
    assert_eq!(status(client.get(&padded, &[]).await), StatusCode::OK);
    assert_eq!(server.stats.snapshot().doh_bad_requests, 7);
    server.stop().await;
}

#[tokio::test]
async fn the_client_address_comes_from_forwarded_headers_of_trusted_proxies_only() {
    let client_net = "198.51.100.0/24".parse().expect("net");
    let forwarded_client: IpAddr = "198.51.100.7".parse().expect("ip");
    let config = |trusted: Vec<ipnet::IpNet>| ServerConfig {
        // The ACL lets in the forwarded client's network only, not the loopback proxy.
        allow: vec![client_net],
        doh_trusted_proxies: trusted,
        ..ServerConfig::default()
    };
    let header = [("x-forwarded-for", "198.51.100.7")];
    let path = get_path(&wire(&query(0, "www.example.", RecordType::A)));
    let rcode = |body: &[u8]| parse(body).metadata.response_code;

    let engine = Arc::new(resolver());
    let trusting = config(vec!["127.0.0.0/8".parse().expect("net")]);
    let server = EncryptedServer::start_shared("doh-proxy", trusting, Arc::clone(&engine));
    let mut client = Client::connect(&server, H2).await;
    assert_eq!(
        rcode(&client.get(&path, &header).await.2),
        ResponseCode::NoError
    );
    assert_eq!(
        rcode(&client.get(&path, &[]).await.2),
        ResponseCode::Refused
    );
    let forwarded = [("forwarded", "for=\"198.51.100.7:5000\";proto=https")];
    assert_eq!(
        rcode(&client.get(&path, &forwarded).await.2),
        ResponseCode::NoError
    );
    let asked: Vec<IpAddr> = engine.seen().iter().map(|r| r.client).collect();
    assert_eq!(
        asked,
        vec![forwarded_client; 2],
        "the engine saw the real client"
    );
    server.stop().await;

    let server = EncryptedServer::start("doh-no-proxy", config(Vec::new()), resolver());
    let mut client = Client::connect(&server, HTTP1).await;
    assert_eq!(
        rcode(&client.get(&path, &header).await.2),
        ResponseCode::Refused
    );
    server.stop().await;
}

#[tokio::test]
async fn doh_responses_are_padded_for_queries_that_pad() {
    let server = EncryptedServer::start("doh-padding", ServerConfig::default(), resolver());
    let mut client = Client::connect(&server, H2).await;
    let padded = wire(&with_options(
        query(0, "www.example.", RecordType::A),
        vec![EdnsOption::Unknown(PADDING_OPTION_CODE, vec![0; 8])],
    ));
    let (status, _, body) = client.post(DNS_MESSAGE, padded).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len() % RESPONSE_BLOCK, 0, "{} octets", body.len());
    assert_eq!(parse(&body).answers.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn an_idle_doh_connection_is_closed_after_the_tcp_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let config = ServerConfig {
        tcp_idle_timeout: std::time::Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = EncryptedServer::start("doh-idle", config, resolver());
    let mut tls = connect(&connector(&[der(&server.files)], &[HTTP1]), server.doh).await;
    let path = get_path(&wire(&query(0, "www.example.", RecordType::A)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    tls.flush().await.expect("flush");
    let mut seen = Vec::new();
    // The response, then EOF once the connection has idled: nothing else ends the read.
    let read = tokio::time::timeout(super::tls_support::PATIENCE, tls.read_to_end(&mut seen))
        .await
        .expect("closed in time");
    assert!(read.is_ok() || !seen.is_empty(), "{read:?}");
    assert!(
        seen.starts_with(b"HTTP/1.1 200 OK"),
        "{:?}",
        String::from_utf8_lossy(&seen)
    );
    assert_eq!(server.stats.snapshot().tcp_idle_timeouts, 1);
    server.stop().await;
}
