//! DNS cookies toward servers (RFC 7873 §5.1), client side.
//!
//! Every EDNS query carries a COOKIE option: our 8-byte client cookie for that server — the
//! first eight bytes of SipHash-2-4 of the server's address under a secret made at start (RFC
//! 7873 §4.1: a different cookie per server, so one server cannot track us to another) — and
//! the server cookie the server last gave us, if any. A server that once answered with a
//! server cookie is known to support cookies (until its record expires): a later reply from it
//! without our client cookie, or with another one, cannot be its own and is dropped as spoofed
//! (the exchange goes on as after a timeout). From a server not known to support cookies, a
//! reply without one is taken as it is.

use std::hash::Hasher;
use std::net::IpAddr;

use scoped_ecs::scan_opt;
use siphasher::sip::SipHasher24;
use tokio::time::Instant;

use super::InfraCache;

/// The EDNS option code of COOKIE.
pub const COOKIE_OPTION: u16 = 10;
/// A client cookie's length.
const CLIENT_COOKIE_LEN: usize = 8;

/// What a reply's COOKIE option says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieCheck {
    /// Nothing against it (its server cookie, if any, is remembered).
    Fine,
    /// From a server known to support cookies, without our client cookie; or with another
    /// client cookie than ours: not the server's reply.
    Spoofed,
}

impl InfraCache {
    /// Our client cookie for `server`; `None` with cookies off.
    pub fn client_cookie(&self, server: IpAddr) -> Option<[u8; CLIENT_COOKIE_LEN]> {
        if !self.config.cookies {
            return None;
        }
        let mut hasher = SipHasher24::new_with_key(&self.cookie_secret);
        match server.to_canonical() {
            IpAddr::V4(ip) => hasher.write(&ip.octets()),
            IpAddr::V6(ip) => hasher.write(&ip.octets()),
        }
        Some(hasher.finish().to_be_bytes())
    }

    /// The COOKIE option's data for a query to `server`: our client cookie and the server
    /// cookie it last gave us. `None` with cookies off.
    pub fn cookie_option(&self, server: IpAddr, now: Instant) -> Option<Vec<u8>> {
        let client = self.client_cookie(server)?;
        let mut option = client.to_vec();
        self.read(server, now, |record| {
            if let Some(cookie) = record.and_then(|r| r.server_cookie.as_deref()) {
                option.extend_from_slice(cookie);
            }
        });
        Some(option)
    }

    /// Checks the reply `wire` from `server` to a query that carried our cookie, remembering
    /// the server cookie it brings.
    pub fn check_reply_cookie(&self, server: IpAddr, wire: &[u8], now: Instant) -> CookieCheck {
        let Some(ours) = self.client_cookie(server) else {
            return CookieCheck::Fine;
        };
        let option = scan_opt(wire)
            .ok()
            .flatten()
            .and_then(|opt| find_option(opt.rdata, COOKIE_OPTION).map(<[u8]>::to_vec));
        match option {
            Some(data) if data.get(..CLIENT_COOKIE_LEN) == Some(&ours[..]) => {
                // RFC 7873 §4.2: a server cookie is 8 to 32 bytes; anything else is not kept.
                let server_cookie = &data[CLIENT_COOKIE_LEN..];
                if (8..=32).contains(&server_cookie.len()) {
                    self.write(server, now, |r| {
                        r.server_cookie = Some(server_cookie.into());
                    });
                }
                CookieCheck::Fine
            }
            Some(_) => CookieCheck::Spoofed,
            None => {
                let supports = self.read(server, now, |r| {
                    r.is_some_and(|r| r.server_cookie.is_some())
                });
                if supports {
                    CookieCheck::Spoofed
                } else {
                    CookieCheck::Fine
                }
            }
        }
    }
}

/// The data of the first option `code` among an OPT record's options.
fn find_option(mut rdata: &[u8], code: u16) -> Option<&[u8]> {
    while let [c0, c1, l0, l1, rest @ ..] = rdata {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let data = rest.get(..len)?;
        if u16::from_be_bytes([*c0, *c1]) == code {
            return Some(data);
        }
        rdata = &rest[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode};
    use hickory_proto::rr::rdata::opt::EdnsOption;

    use super::*;
    use crate::infra::InfraConfig;

    fn reply(option: Option<Vec<u8>>) -> Vec<u8> {
        let mut message = Message::new(1, MessageType::Response, OpCode::Query);
        let mut edns = Edns::new();
        if let Some(data) = option {
            edns.options_mut()
                .insert(EdnsOption::Unknown(COOKIE_OPTION, data));
        }
        message.set_edns(edns);
        message.to_vec().expect("reply")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[tokio::test(start_paused = true)]
    async fn a_cookie_per_server_and_the_server_cookie_is_sent_back() {
        let infra = InfraCache::default();
        let now = Instant::now();
        let (a, b) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let cookie_a = infra.client_cookie(a).expect("on");
        assert_ne!(
            Some(cookie_a),
            infra.client_cookie(b),
            "one cookie per server"
        );
        assert_eq!(infra.cookie_option(a, now), Some(cookie_a.to_vec()));
        let mut answer = cookie_a.to_vec();
        answer.extend_from_slice(&[9; 16]);
        assert_eq!(
            infra.check_reply_cookie(a, &reply(Some(answer.clone())), now),
            CookieCheck::Fine
        );
        assert_eq!(infra.cookie_option(a, now), Some(answer));
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_without_our_cookie_is_spoofed_once_the_server_is_known_to_support_them() {
        let infra = InfraCache::default();
        let now = Instant::now();
        let server = ip("192.0.2.1");
        assert_eq!(
            infra.check_reply_cookie(server, &reply(None), now),
            CookieCheck::Fine,
            "not known to support cookies"
        );
        let mut wrong = [0u8; 24].to_vec();
        wrong[0] = 1;
        assert_eq!(
            infra.check_reply_cookie(server, &reply(Some(wrong)), now),
            CookieCheck::Spoofed,
            "another client cookie"
        );
        let mut good = infra.client_cookie(server).expect("on").to_vec();
        good.extend_from_slice(&[7; 16]);
        assert_eq!(
            infra.check_reply_cookie(server, &reply(Some(good)), now),
            CookieCheck::Fine
        );
        assert_eq!(
            infra.check_reply_cookie(server, &reply(None), now),
            CookieCheck::Spoofed
        );
    }

    #[tokio::test(start_paused = true)]
    async fn with_cookies_off_nothing_is_sent_or_checked() {
        let infra = InfraCache::new(InfraConfig {
            cookies: false,
            ..InfraConfig::default()
        })
        .expect("valid");
        let server = ip("192.0.2.1");
        assert_eq!(infra.cookie_option(server, Instant::now()), None);
        assert_eq!(
            infra.check_reply_cookie(server, &reply(Some(vec![0; 24])), Instant::now()),
            CookieCheck::Fine
        );
    }
}
