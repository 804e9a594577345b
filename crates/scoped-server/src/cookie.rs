//! DNS cookies, server side (RFC 7873), with the interoperable server cookie of RFC 9018.
//!
//! A client sends an 8-byte client cookie, and once it has one, the server cookie we gave it.
//! Our server cookie is 16 bytes: version 1, three reserved zero bytes, a 32-bit timestamp (Unix
//! seconds) and `SipHash-2-4(client cookie | version | reserved | timestamp | client address)`
//! under a 128-bit secret. Every response to a query with a cookie carries a fresh server
//! cookie. A server cookie is valid when its hash matches under the current or the previous
//! secret and its timestamp is at most an hour old and at most five minutes ahead.
//!
//! The secret rotates: the one in use during rotation period `n` (Unix time / `rotation`) is
//! derived from the base secret (configured, so every instance behind a load balancer agrees,
//! or random) and `n`. Cookies issued late in one period stay valid in the next.
//!
//! What a query's cookie decides (RFC 7873 §5.2), in the guard:
//! - a malformed COOKIE option (length not 8 and not 16 to 40, or two of them): FORMERR;
//! - no cookie, a client cookie alone, or a wrong server cookie: served as usual (a fresh
//!   cookie in the answer), except that only a valid server cookie exempts from rate limiting
//!   and an over-limit query with a client cookie gets BADCOOKIE in its slip turn.

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher24;

use crate::config::CookieConfig;

/// The EDNS option code of COOKIE (RFC 7873 §4).
pub const COOKIE_OPTION_CODE: u16 = 10;
/// A client cookie's length.
pub const CLIENT_COOKIE_LEN: usize = 8;
/// Our server cookie's length (RFC 9018 §4).
pub const SERVER_COOKIE_LEN: usize = 16;
/// The RFC 9018 version byte.
const VERSION: u8 = 1;
/// Oldest a server cookie may be (RFC 9018 §4.3).
const MAX_AGE_SECS: u32 = 3600;
/// How far in the future a server cookie's timestamp may be (clock skew between instances).
const MAX_AHEAD_SECS: u32 = 300;

/// A query's COOKIE option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QueryCookie<'a> {
    /// No COOKIE option (or no OPT).
    None,
    /// A COOKIE option with a bad length, or more than one: FORMERR.
    Malformed,
    /// A client cookie and, possibly, a server cookie (8 to 32 bytes, anyone's format).
    Present {
        client: [u8; CLIENT_COOKIE_LEN],
        server: &'a [u8],
    },
}

/// Finds the COOKIE option among the options of an OPT record's RDATA. Options that overrun
/// are left to the pipeline's strict check.
pub(crate) fn find_cookie(rdata: &[u8]) -> QueryCookie<'_> {
    let mut found = QueryCookie::None;
    let mut rest = rdata;
    while let [c0, c1, l0, l1, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let Some(data) = tail.get(..len) else {
            break;
        };
        rest = &tail[len..];
        if u16::from_be_bytes([*c0, *c1]) != COOKIE_OPTION_CODE {
            continue;
        }
        if found != QueryCookie::None || !(len == 8 || (16..=40).contains(&len)) {
            return QueryCookie::Malformed;
        }
        let mut client = [0; CLIENT_COOKIE_LEN];
        client.copy_from_slice(&data[..CLIENT_COOKIE_LEN]);
        found = QueryCookie::Present {
            client,
            server: &data[CLIENT_COOKIE_LEN..],
        };
    }
    found
}

/// The server-cookie secrets.
#[derive(Clone, Debug)]
pub(crate) struct CookieSecrets {
    base: [u8; 16],
    rotation_secs: u64,
}

impl CookieSecrets {
    pub(crate) fn new(config: &CookieConfig) -> Self {
        Self {
            base: config.secret.unwrap_or_else(rand::random),
            rotation_secs: config.rotation.as_secs().max(1),
        }
    }

    /// The secret of rotation period `period`.
    fn key(&self, period: u64) -> [u8; 16] {
        let half = |n: u64| {
            let mut hasher = SipHasher24::new_with_key(&self.base);
            hasher.write_u64(period);
            hasher.write_u64(n);
            hasher.finish().to_be_bytes()
        };
        let mut key = [0; 16];
        key[..8].copy_from_slice(&half(0));
        key[8..].copy_from_slice(&half(1));
        key
    }

    fn period(&self, unix: u32) -> u64 {
        u64::from(unix) / self.rotation_secs
    }

    /// A fresh server cookie for `client` at Unix time `now`.
    pub(crate) fn server_cookie(
        &self,
        client_cookie: &[u8; CLIENT_COOKIE_LEN],
        client: IpAddr,
        now: u32,
    ) -> [u8; SERVER_COOKIE_LEN] {
        let mut cookie = [0; SERVER_COOKIE_LEN];
        cookie[0] = VERSION;
        cookie[4..8].copy_from_slice(&now.to_be_bytes());
        let hash = hash(
            &self.key(self.period(now)),
            client_cookie,
            &cookie[..8],
            client,
        );
        cookie[8..].copy_from_slice(&hash);
        cookie
    }

    /// Whether `server` is a cookie we issued to this client cookie and address, still fresh.
    pub(crate) fn is_valid(
        &self,
        client_cookie: &[u8; CLIENT_COOKIE_LEN],
        server: &[u8],
        client: IpAddr,
        now: u32,
    ) -> bool {
        if server.len() != SERVER_COOKIE_LEN || server[..4] != [VERSION, 0, 0, 0] {
            return false;
        }
        let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
        // Serial-number arithmetic (RFC 1982), as RFC 9018 asks.
        let age = now.wrapping_sub(stamp);
        let fresh = age <= MAX_AGE_SECS || stamp.wrapping_sub(now) <= MAX_AHEAD_SECS;
        if !fresh {
            return false;
        }
        let period = self.period(now);
        [period, period.saturating_sub(1)]
            .iter()
            .any(|&p| hash(&self.key(p), client_cookie, &server[..8], client) == server[8..])
    }
}

/// RFC 9018 §4.4: SipHash-2-4 over client cookie, version, reserved, timestamp, client address.
fn hash(key: &[u8; 16], client_cookie: &[u8], head: &[u8], client: IpAddr) -> [u8; 8] {
    let mut hasher = SipHasher24::new_with_key(key);
    hasher.write(client_cookie);
    hasher.write(head);
    match client.to_canonical() {
        IpAddr::V4(ip) => hasher.write(&ip.octets()),
        IpAddr::V6(ip) => hasher.write(&ip.octets()),
    }
    // RFC 9018's reference code stores the 64-bit result little-endian.
    hasher.finish().to_le_bytes()
}

/// The COOKIE option (code, length, client cookie, server cookie) for a response.
pub(crate) fn option(
    client_cookie: &[u8; CLIENT_COOKIE_LEN],
    server_cookie: &[u8; SERVER_COOKIE_LEN],
) -> [u8; 4 + CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN] {
    let mut option = [0; 4 + CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN];
    option[..2].copy_from_slice(&COOKIE_OPTION_CODE.to_be_bytes());
    option[2..4].copy_from_slice(&((CLIENT_COOKIE_LEN + SERVER_COOKIE_LEN) as u16).to_be_bytes());
    option[4..12].copy_from_slice(client_cookie);
    option[12..].copy_from_slice(server_cookie);
    option
}

#[cfg(test)]
mod tests;
