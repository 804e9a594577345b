//! Why a resolution failed, as an Extended DNS Error (RFC 8914) for the SERVFAIL: what the
//! servers of each zone did wrong is noted as the question goes (timeouts, network errors, lame
//! or refusing servers), and the [`ResolveError`] that ended it is read against those notes.
//!
//! | code | when |
//! |---|---|
//! | 22 No Reachable Authority | every server of a zone timed out, answered lame or refused, or failed its TLS handshake (a DNS over TLS forwarder whose certificate is not valid for `tls-name`) |
//! | 23 Network Error | every try at the servers of a zone failed on the network (no route, port unreachable) |
//! | 0 Other | a limit of the engine: query budget, referrals, CNAME/DNAME chain |
//!
//! 20 (Not Authoritative) is for authoritative servers asked for a zone they do not serve; a
//! resolver never sends it.

use std::fmt::Write as _;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use super::ResolveError;
use crate::Ede;
use crate::classify::LameReason;

/// EDE INFO-CODE 0: Other.
pub const EDE_OTHER: u16 = 0;
/// EDE INFO-CODE 22: No Reachable Authority.
pub const EDE_NO_REACHABLE_AUTHORITY: u16 = 22;
/// EDE INFO-CODE 23: Network Error.
pub const EDE_NETWORK_ERROR: u16 = 23;

/// How one try at one server failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// Nothing came back in time.
    Timeout,
    /// The socket said no: no route, port unreachable, connection refused or reset.
    Network,
    /// A reply that could not be used (malformed, too big, badly framed).
    Unusable,
    /// An answer from a server that does not serve the zone (or mishandles the type).
    Lame,
    /// An answer with RCODE REFUSED.
    Refused,
    /// Another error RCODE (SERVFAIL, FORMERR, NOTIMP).
    ErrorRcode,
}

impl Failure {
    /// The failure a reply classified unusable is.
    pub(super) fn of_lame(reason: LameReason) -> Self {
        match reason {
            LameReason::Rcode(ResponseCode::Refused) => Self::Refused,
            LameReason::Rcode(_) => Self::ErrorRcode,
            _ => Self::Lame,
        }
    }
}

/// How the tries at the servers of one zone failed, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Counts {
    timeout: u32,
    network: u32,
    unusable: u32,
    lame: u32,
    refused: u32,
    error_rcode: u32,
}

impl Counts {
    fn add(&mut self, failure: Failure) {
        let slot = match failure {
            Failure::Timeout => &mut self.timeout,
            Failure::Network => &mut self.network,
            Failure::Unusable => &mut self.unusable,
            Failure::Lame => &mut self.lame,
            Failure::Refused => &mut self.refused,
            Failure::ErrorRcode => &mut self.error_rcode,
        };
        *slot = slot.saturating_add(1);
    }

    fn total(&self) -> u32 {
        self.timeout + self.network + self.unusable + self.lame + self.refused + self.error_rcode
    }

    /// The EDE for "no server of `zone` gave a usable answer", from how they failed.
    fn ede(&self, zone: &Name) -> Ede {
        let total = self.total();
        if total > 0 && self.network == total {
            return Ede {
                code: EDE_NETWORK_ERROR,
                text: format!("network error reaching the servers of {zone}"),
            };
        }
        let mut text = format!("no reachable authority for {zone}");
        let kinds = [
            (self.timeout, "timeout"),
            (self.network, "network error"),
            (self.lame, "lame"),
            (self.refused, "refused"),
            (self.error_rcode, "error rcode"),
            (self.unusable, "unusable reply"),
        ];
        let seen: Vec<&str> = kinds
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(_, what)| *what)
            .collect();
        if !seen.is_empty() {
            let _ = write!(text, " ({})", seen.join(", "));
        }
        Ede {
            code: EDE_NO_REACHABLE_AUTHORITY,
            text,
        }
    }
}

/// What went wrong with which zone's servers during one question (shared by its sub-queries).
#[derive(Debug, Default)]
pub(super) struct Failures {
    /// Per zone, in the order first seen; the last entry is the zone that failed last.
    zones: Vec<(Name, Counts)>,
    last: Option<usize>,
}

impl Failures {
    /// One try at a server of `zone` failed this way.
    pub(super) fn note(&mut self, zone: &Name, failure: Failure) {
        let index = match self.zones.iter().position(|(z, _)| z == zone) {
            Some(index) => index,
            None => {
                self.zones.push((zone.clone(), Counts::default()));
                self.zones.len() - 1
            }
        };
        self.zones[index].1.add(failure);
        self.last = Some(index);
    }

    /// The EDE for the SERVFAIL `error` ends the resolution of `qname` with.
    pub(super) fn ede(&self, error: &ResolveError, qname: &Name) -> Option<Ede> {
        let counts_of = |zone: &Name| {
            self.zones
                .iter()
                .find(|(z, _)| z == zone)
                .map(|(_, counts)| counts.clone())
                .unwrap_or_default()
        };
        let last = self.last.map(|index| &self.zones[index]);
        let ede = match error {
            ResolveError::AllServersFailed(zone) => counts_of(zone).ede(zone),
            // Out of time while servers failed: they are why.
            ResolveError::Deadline => match last {
                Some((zone, counts)) => {
                    let mut ede = counts.ede(zone);
                    ede.text.push_str("; time budget exhausted");
                    ede
                }
                None => other(format!("time budget exhausted resolving {qname}")),
            },
            ResolveError::QueryBudget => {
                other(format!("upstream query budget exhausted resolving {qname}"))
            }
            ResolveError::TooManyReferrals => {
                other(format!("too many referrals resolving {qname}"))
            }
            ResolveError::CnameChain => {
                other(format!("CNAME/DNAME chain too long or looping at {qname}"))
            }
            // Its EDE comes with the bogus verdict (validate/).
            ResolveError::Bogus(_) => return None,
        };
        Some(ede)
    }
}

fn other(text: String) -> Ede {
    Ede {
        code: EDE_OTHER,
        text,
    }
}

impl Ede {
    /// Whether this EDE says the servers could not be reached or the engine gave up (codes 0,
    /// 22, 23): a failure stale data may stand in for, unlike a bogus verdict.
    pub fn is_resolution_failure(&self) -> bool {
        matches!(
            self.code,
            EDE_OTHER | EDE_NO_REACHABLE_AUTHORITY | EDE_NETWORK_ERROR
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn only_network_errors_are_a_network_error() {
        let mut failures = Failures::default();
        let com = zone("example.com.");
        failures.note(&com, Failure::Network);
        failures.note(&com, Failure::Network);
        let ede = failures
            .ede(&ResolveError::AllServersFailed(com.clone()), &com)
            .unwrap();
        assert_eq!(ede.code, EDE_NETWORK_ERROR);
        assert!(ede.text.contains("example.com."), "{}", ede.text);
    }

    #[test]
    fn a_timeout_among_network_errors_is_no_reachable_authority() {
        let mut failures = Failures::default();
        let com = zone("example.com.");
        failures.note(&com, Failure::Network);
        failures.note(&com, Failure::Timeout);
        // Another zone's failures do not count for this one.
        failures.note(&zone("net."), Failure::Lame);
        let ede = failures
            .ede(&ResolveError::AllServersFailed(com.clone()), &com)
            .unwrap();
        assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
        assert_eq!(
            ede.text,
            "no reachable authority for example.com. (timeout, network error)"
        );
    }

    #[test]
    fn deadline_names_the_zone_that_failed_last() {
        let mut failures = Failures::default();
        failures.note(&zone("com."), Failure::Timeout);
        failures.note(&zone("example.com."), Failure::Refused);
        let ede = failures
            .ede(&ResolveError::Deadline, &zone("www.example.com."))
            .unwrap();
        assert_eq!(ede.code, EDE_NO_REACHABLE_AUTHORITY);
        assert_eq!(
            ede.text,
            "no reachable authority for example.com. (refused); time budget exhausted"
        );
        let empty = Failures::default()
            .ede(&ResolveError::Deadline, &zone("a."))
            .unwrap();
        assert_eq!(empty.code, EDE_OTHER);
    }

    #[test]
    fn engine_limits_are_other_naming_the_question() {
        let qname = zone("www.example.com.");
        let failures = Failures::default();
        let referrals = failures
            .ede(&ResolveError::TooManyReferrals, &qname)
            .unwrap();
        assert_eq!(referrals.code, EDE_OTHER);
        assert_eq!(
            referrals.text,
            "too many referrals resolving www.example.com."
        );
        let chain = failures.ede(&ResolveError::CnameChain, &qname).unwrap();
        assert_eq!(chain.code, EDE_OTHER);
        assert!(chain.text.ends_with("www.example.com."), "{}", chain.text);
    }

    #[test]
    fn only_resolution_failures_let_stale_data_stand_in() {
        assert!(other(String::new()).is_resolution_failure());
        let bogus = Ede {
            code: 6,
            text: String::new(),
        };
        assert!(!bogus.is_resolution_failure());
    }
}
