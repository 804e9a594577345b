//! The guard in front of the pipeline: PROXY v2 headers (`proxy.rs`), DNS cookies
//! (`cookie.rs`) and per-client rate limiting (`ratelimit.rs`), in that order, for every
//! message a UDP or TCP listener receives.
//!
//! 1. **PROXY v2** — the client the rest of the pipeline sees: the header's source for a
//!    trusted load balancer, the peer otherwise; drops are counted `proxy_dropped_<why>`.
//! 2. **Cookie** — the query's COOKIE option, if cookies are on: malformed → FORMERR
//!    (`cookie_formerr`); a valid server cookie of ours → `cookie_valid`; a client cookie alone
//!    or a wrong server cookie → `cookie_fresh` (served as usual, RFC 7873 §5.2.3).
//! 3. **Rate limit** (UDP only, not for a valid server cookie) — over the limit, in its slip
//!    turn: BADCOOKIE with a fresh cookie if the query had a client cookie
//!    (`ratelimit_badcookie`), else an empty TC=1 answer (`ratelimit_truncated`); otherwise
//!    dropped (`ratelimit_dropped`).
//!
//! Then the pipeline answers, and [`Guard::finish`] adds our cookie to its response when the
//! query carried a client cookie (a response that would then no longer fit the client's UDP
//! size is replaced by an empty TC=1 answer that carries the cookie).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Message, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use scoped_ecs::scan_opt;
use tokio::time::Instant;

use crate::config::{CLASSIC_UDP_PAYLOAD, ServerConfig};
use crate::cookie::{self, COOKIE_OPTION_CODE, CookieSecrets, QueryCookie};
use crate::pipeline::{TCP_MAX_MESSAGE, Transport};
use crate::proxy::{ProxyDrop, ProxyPolicy, Unwrapped};
use crate::ratelimit::{Limit, RateLimiter};
use crate::stats::FrontendStats;

/// A message the pipeline should answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Admitted {
    /// Where the DNS message starts in what was received (after a PROXY header).
    pub offset: usize,
    /// The client: named by a PROXY header, or the peer.
    pub client: SocketAddr,
    /// The client cookie to answer with our server cookie.
    cookie: Option<[u8; cookie::CLIENT_COOKIE_LEN]>,
    /// The largest response the client takes on this transport.
    limit: usize,
}

/// What the guard decided for one message.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Let the pipeline answer, then [`Guard::finish`] its response.
    Serve(Admitted),
    /// Send this response instead; the pipeline is not asked.
    Answer(Vec<u8>),
    /// Send nothing.
    Drop,
}

/// The checks before the pipeline.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) proxy: ProxyPolicy,
    limiter: Option<RateLimiter>,
    cookies: Option<CookieSecrets>,
    edns_udp_payload: u16,
    stats: Arc<FrontendStats>,
}

impl Guard {
    pub(crate) fn new(config: &ServerConfig, stats: Arc<FrontendStats>) -> Self {
        Self {
            proxy: ProxyPolicy::new(&config.proxy_protocol_from),
            limiter: RateLimiter::new(&config.rate_limit),
            cookies: config
                .cookies
                .enabled
                .then(|| CookieSecrets::new(&config.cookies)),
            edns_udp_payload: config.edns_udp_payload.max(CLASSIC_UDP_PAYLOAD),
            stats,
        }
    }

    /// One UDP datagram from `peer`.
    pub(crate) fn udp(&self, datagram: &[u8], peer: SocketAddr, now: Instant) -> Verdict {
        match self.proxy.unwrap(datagram, peer) {
            Ok(unwrapped) => self.admit(datagram, unwrapped, Transport::Udp, now),
            Err(drop) => {
                self.count_proxy_drop(drop);
                Verdict::Drop
            }
        }
    }

    /// One TCP message from `client` (already named by the connection's PROXY header).
    pub(crate) fn tcp(&self, message: &[u8], client: SocketAddr) -> Verdict {
        let unwrapped = Unwrapped {
            client,
            header_len: 0,
            local: false,
        };
        self.admit(message, unwrapped, Transport::Tcp, Instant::now())
    }

    pub(crate) fn count_proxy_drop(&self, drop: ProxyDrop) {
        FrontendStats::bump(match drop {
            ProxyDrop::Untrusted => &self.stats.proxy_dropped_untrusted,
            ProxyDrop::Malformed => &self.stats.proxy_dropped_malformed,
            ProxyDrop::Missing => &self.stats.proxy_dropped_missing,
        });
    }

    pub(crate) fn count_proxy_local(&self) {
        FrontendStats::bump(&self.stats.proxy_local);
    }

    /// Steps 2 and 3 for the DNS message at `received[unwrapped.header_len..]`.
    fn admit(
        &self,
        received: &[u8],
        unwrapped: Unwrapped,
        transport: Transport,
        now: Instant,
    ) -> Verdict {
        if unwrapped.local {
            self.count_proxy_local();
        }
        let query = received.get(unwrapped.header_len..).unwrap_or_default();
        let client = unwrapped.client;
        let opt = scan_opt(query).ok().flatten();
        let limit = match (transport, &opt) {
            (Transport::Tcp | Transport::Tls | Transport::Https, _) => TCP_MAX_MESSAGE,
            (Transport::Udp, None) => usize::from(CLASSIC_UDP_PAYLOAD),
            (Transport::Udp, Some(opt)) => usize::from(
                opt.udp_payload
                    .clamp(CLASSIC_UDP_PAYLOAD, self.edns_udp_payload),
            ),
        };
        let mut admitted = Admitted {
            offset: unwrapped.header_len,
            client,
            cookie: None,
            limit,
        };
        let mut valid_cookie = false;
        if let (Some(secrets), Some(opt)) = (&self.cookies, &opt) {
            match cookie::find_cookie(opt.rdata) {
                QueryCookie::None => {}
                QueryCookie::Malformed => {
                    FrontendStats::bump(&self.stats.cookie_formerr);
                    return self.small_answer(query, ResponseCode::FormErr, None, false);
                }
                QueryCookie::Present { client: cc, server } => {
                    valid_cookie = secrets.is_valid(&cc, server, client.ip(), unix_now());
                    FrontendStats::bump(if valid_cookie {
                        &self.stats.cookie_valid
                    } else {
                        &self.stats.cookie_fresh
                    });
                    admitted.cookie = Some(cc);
                }
            }
        }
        let limited = match (&self.limiter, transport) {
            (Some(limiter), Transport::Udp) if !valid_cookie => limiter.check(client.ip(), now),
            _ => Limit::Allow,
        };
        match limited {
            Limit::Allow => Verdict::Serve(admitted),
            Limit::Drop => {
                FrontendStats::bump(&self.stats.ratelimit_dropped);
                Verdict::Drop
            }
            Limit::Slip if admitted.cookie.is_some() => {
                FrontendStats::bump(&self.stats.ratelimit_badcookie);
                self.small_answer(query, ResponseCode::BADCOOKIE, Some(&admitted), false)
            }
            Limit::Slip => {
                FrontendStats::bump(&self.stats.ratelimit_truncated);
                self.small_answer(query, ResponseCode::NoError, None, true)
            }
        }
    }

    /// Adds our cookie to the pipeline's `response` to an admitted query that had a client
    /// cookie. `query` is the DNS message the pipeline answered.
    pub(crate) fn finish(&self, admitted: &Admitted, query: &[u8], response: &mut Vec<u8>) {
        let Some(option) = self.cookie_option(admitted) else {
            return;
        };
        let Some(Some((rdata_offset, rdata_len))) = scan_opt(response)
            .ok()
            .map(|opt| opt.map(|opt| (opt.rdata_offset, opt.rdata.len())))
        else {
            return;
        };
        let end = rdata_offset + rdata_len;
        let new_len = rdata_len + option.len();
        // Our OPT is the response's last record; anything else is left as it is.
        let (true, Ok(new_len)) = (end == response.len(), u16::try_from(new_len)) else {
            return;
        };
        if response.len() + option.len() > admitted.limit {
            FrontendStats::bump(&self.stats.truncated);
            if let Verdict::Answer(tc) =
                self.small_answer(query, ResponseCode::NoError, Some(admitted), true)
            {
                *response = tc;
            }
            return;
        }
        response[rdata_offset - 2..rdata_offset].copy_from_slice(&new_len.to_be_bytes());
        response.extend_from_slice(&option);
    }

    /// The COOKIE option answering `admitted`'s client cookie, if it had one.
    fn cookie_option(&self, admitted: &Admitted) -> Option<[u8; 28]> {
        let (secrets, cc) = (self.cookies.as_ref()?, admitted.cookie.as_ref()?);
        let server = secrets.server_cookie(cc, admitted.client.ip(), unix_now());
        Some(cookie::option(cc, &server))
    }

    /// An answer with no records: `rcode`, TC as asked, our OPT (with our cookie for
    /// `cookie_for`) if the query had one. Dropped if the query does not parse.
    fn small_answer(
        &self,
        query: &[u8],
        rcode: ResponseCode,
        cookie_for: Option<&Admitted>,
        truncated: bool,
    ) -> Verdict {
        let Ok(request) = Message::from_vec(query) else {
            return Verdict::Drop;
        };
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.recursion_available = true;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.checking_disabled = request.metadata.checking_disabled;
        response.metadata.response_code = rcode;
        response.metadata.truncation = truncated;
        response.queries = request.queries;
        if let Some(client_edns) = &request.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(self.edns_udp_payload)
                .set_version(0)
                .set_dnssec_ok(client_edns.flags().dnssec_ok);
            if let Some(option) = cookie_for.and_then(|a| self.cookie_option(a)) {
                edns.options_mut().insert(EdnsOption::Unknown(
                    COOKIE_OPTION_CODE,
                    option[4..].to_vec(),
                ));
            }
            response.set_edns(edns);
        }
        match response.to_vec() {
            Ok(wire) => {
                self.stats.count_response(rcode);
                Verdict::Answer(wire)
            }
            Err(_) => Verdict::Drop,
        }
    }
}

/// Unix time in seconds (the cookie timestamp), wrapping in 2106 as RFC 9018 allows.
fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    secs as u32
}
