//! DNS over HTTPS (RFC 8484): `/dns-query` over HTTP/2 or HTTP/1.1 (ALPN `h2`, `http/1.1`).
//!
//! - `GET /dns-query?dns=<base64url>`: the message in base64url, without padding (padding is
//!   accepted too); missing or undecodable: 400.
//! - `POST /dns-query` with `Content-Type: application/dns-message`: the message is the body (at
//!   most 65,535 octets: else 413); another media type: 415.
//! - Another path: 404; another method: 405. A message the pipeline drops (shorter than a
//!   header, or a response): 400.
//!
//! A 200 carries `application/dns-message` and `Cache-Control: max-age=` the smallest TTL of
//! the response's records (RFC 8484 §5.1); 0 when it has none. The client address is the
//! peer's, or the one a trusted reverse proxy names (`forwarded.rs`). A connection closes when
//! no request is in flight and none has come for the TCP idle timeout.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hickory_proto::op::Message;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ipnet::IpNet;
use tokio::time::{Instant, sleep_until, timeout};

use crate::encrypted::{Accepting, accept_loop, forwarded};
use crate::pipeline::{Pipeline, TCP_MAX_MESSAGE, Transport};
use crate::stats::FrontendStats;
use crate::tcp::TcpLimits;

/// The path DoH is served on (RFC 8484 §3 leaves it to the server; this is the usual one).
pub const DOH_PATH: &str = "/dns-query";

/// The media type of a DNS message (RFC 8484 §6).
pub const DNS_MESSAGE: &str = "application/dns-message";

/// base64url, padding optional (RFC 8484 §4.1 says without; some clients pad anyway).
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What every request of a DoH listener needs.
#[derive(Clone)]
pub(crate) struct Doh {
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) limits: TcpLimits,
    pub(crate) trusted_proxies: Arc<[IpNet]>,
}

/// Serves DNS over HTTPS on `accepting` until the task is aborted.
pub(crate) async fn serve(accepting: Accepting, doh: Doh) {
    accept_loop(
        accepting,
        |stats| &stats.doh_accepted,
        move |tls, peer| serve_connection(TokioIo::new(tls), peer, doh.clone()),
    )
    .await;
}

/// Requests in flight on a connection and when the last one ended, for the idle timeout.
struct Activity {
    inflight: AtomicUsize,
    last: Mutex<Instant>,
}

impl Activity {
    fn idle_since(&self) -> Option<Instant> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        (self.inflight.load(Ordering::Acquire) == 0).then_some(last)
    }

    fn end(&self) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.inflight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one connection, HTTP/2 or HTTP/1.1 as the client speaks, until it closes or idles.
async fn serve_connection<I>(io: I, peer: SocketAddr, doh: Doh)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let limits = doh.limits;
    let stats = Arc::clone(doh.pipeline.stats());
    let activity = Arc::new(Activity {
        inflight: AtomicUsize::new(0),
        last: Mutex::new(Instant::now()),
    });
    let seen = Arc::clone(&activity);
    let service = service_fn(move |request| {
        let doh = doh.clone();
        let activity = Arc::clone(&seen);
        activity.inflight.fetch_add(1, Ordering::AcqRel);
        async move {
            let response = answer(request, peer, &doh).await;
            activity.end();
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(u32::try_from(limits.max_inflight).unwrap_or(u32::MAX));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    loop {
        let wake = match activity.idle_since() {
            Some(last) => last + limits.idle_timeout,
            None => Instant::now() + limits.idle_timeout,
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "DoH connection ended");
                }
                return;
            }
            () = sleep_until(wake) => {
                if activity.idle_since().is_some_and(|last| last.elapsed() >= limits.idle_timeout) {
                    FrontendStats::bump(&stats.tcp_idle_timeouts);
                    connection.as_mut().graceful_shutdown();
                    let _ = timeout(limits.write_timeout, connection.as_mut()).await;
                    return;
                }
            }
        }
    }
}

/// One request's response.
async fn answer(request: Request<Incoming>, peer: SocketAddr, doh: &Doh) -> Response<Full<Bytes>> {
    let stats = doh.pipeline.stats();
    let message = match read_message(request, peer, doh).await {
        Ok(message) => message,
        Err(status) => {
            FrontendStats::bump(&stats.doh_bad_requests);
            return status_only(status);
        }
    };
    let (client, wire) = message;
    let Some(response) = doh.pipeline.handle(&wire, client, Transport::Https).await else {
        FrontendStats::bump(&stats.doh_bad_requests);
        return status_only(StatusCode::BAD_REQUEST);
    };
    let max_age = min_ttl(&response);
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, DNS_MESSAGE)
        .header(CACHE_CONTROL, format!("max-age={max_age}"))
        .body(Full::new(Bytes::from(response)))
        .unwrap_or_else(|_| status_only(StatusCode::INTERNAL_SERVER_ERROR))
}

/// The client address and the DNS message of a request, or the status that refuses it.
async fn read_message(
    request: Request<Incoming>,
    peer: SocketAddr,
    doh: &Doh,
) -> Result<(SocketAddr, Vec<u8>), StatusCode> {
    if request.uri().path() != DOH_PATH {
        return Err(StatusCode::NOT_FOUND);
    }
    let client = forwarded::client_address(peer, request.headers(), &doh.trusted_proxies);
    let wire = match *request.method() {
        Method::GET => {
            let encoded = request
                .uri()
                .query()
                .into_iter()
                .flat_map(|query| query.split('&'))
                .find_map(|pair| pair.strip_prefix("dns="))
                .ok_or(StatusCode::BAD_REQUEST)?;
            BASE64URL
                .decode(encoded)
                .map_err(|_| StatusCode::BAD_REQUEST)?
        }
        Method::POST => {
            let media_type = request
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(';').next())
                .map(str::trim);
            if !media_type.is_some_and(|t| t.eq_ignore_ascii_case(DNS_MESSAGE)) {
                return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
            }
            let body = Limited::new(request.into_body(), TCP_MAX_MESSAGE);
            let collected = timeout(doh.limits.read_timeout, body.collect())
                .await
                .map_err(|_| StatusCode::REQUEST_TIMEOUT)?
                .map_err(|error| {
                    if error.downcast_ref::<LengthLimitError>().is_some() {
                        StatusCode::PAYLOAD_TOO_LARGE
                    } else {
                        StatusCode::BAD_REQUEST
                    }
                })?;
            collected.to_bytes().to_vec()
        }
        _ => return Err(StatusCode::METHOD_NOT_ALLOWED),
    };
    if wire.len() > TCP_MAX_MESSAGE {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    Ok((client, wire))
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response
            .headers_mut()
            .insert(ALLOW, http::HeaderValue::from_static("GET, POST"));
    }
    response
}

/// The smallest TTL of the response's records (the OPT pseudo-record aside); 0 without any.
fn min_ttl(response: &[u8]) -> u32 {
    let Ok(message) = Message::from_vec(response) else {
        return 0;
    };
    message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals)
        .map(|record| record.ttl)
        .min()
        .unwrap_or(0)
}
