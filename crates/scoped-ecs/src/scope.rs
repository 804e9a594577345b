//! Replies from authoritatives and scope arithmetic (RFC 7871 §7.3).
//!
//! The engine sends an [`Ecs`] built by [`Ecs::for_query`] to an allowlisted server, checks the
//! reply's option with [`check_reply`] (E11, E12), and caches the answer under
//! [`cache_scope`] (E14, E15, E20). When it sent no option, [`CacheScope::without_ecs`] says how the
//! answer is cached. The cache asks [`CacheScope::serves`] whether an entry answers a query's
//! [`SubnetDecision`](crate::SubnetDecision) subnet; among the entries that do, the most specific
//! one wins (E19, [`CacheScope::specificity`]).

use ipnet::IpNet;

use crate::error::EcsError;
use crate::family::Family;
use crate::option::{Direction, Ecs, find_ecs};

/// Why a reply's ECS option is not the answer to our query's (E11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MismatchReason {
    /// FAMILY differs.
    Family,
    /// SOURCE PREFIX-LENGTH differs.
    Source,
    /// The first SOURCE bits of ADDRESS differ.
    Address,
    /// The reply's ECS option (or its OPT RDATA) is malformed.
    Malformed(EcsError),
}

impl MismatchReason {
    /// A short, stable, snake_case name for metrics labels and traces (E24).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Family => "reply_ecs_family_differs",
            Self::Source => "reply_ecs_source_differs",
            Self::Address => "reply_ecs_address_differs",
            Self::Malformed(_) => "reply_ecs_malformed",
        }
    }
}

/// What a reply's ECS says about the query we sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyEcs {
    /// FAMILY, SOURCE and ADDRESS match: the answer is valid for SCOPE bits.
    Matches {
        /// The returned SCOPE PREFIX-LENGTH.
        scope: u8,
    },
    /// No ECS option: SCOPE 0 (E12). Whether the server usually echoes — which makes an absent
    /// option suspicious — is the engine's memory, not ours.
    Absent,
    /// Not a reply to this query: discard it, keep waiting or try the next server (E11).
    Mismatch(MismatchReason),
}

impl ReplyEcs {
    /// The SCOPE to cache under: the returned one, 0 when absent (E12), none for a mismatch.
    #[inline]
    pub const fn scope(&self) -> Option<u8> {
        match self {
            Self::Matches { scope } => Some(*scope),
            Self::Absent => Some(0),
            Self::Mismatch(_) => None,
        }
    }
}

/// Check a reply's (parsed) ECS option against the one we sent (E11, E12).
pub fn check_reply(sent: &Ecs, got: Option<&Ecs>) -> ReplyEcs {
    let Some(got) = got else {
        return ReplyEcs::Absent;
    };
    if got.family() != sent.family() {
        return ReplyEcs::Mismatch(MismatchReason::Family);
    }
    if got.source() != sent.source() {
        return ReplyEcs::Mismatch(MismatchReason::Source);
    }
    // Both prefixes are truncated to the same SOURCE, so equal prefixes mean equal first bits.
    if got.prefix() != sent.prefix() {
        return ReplyEcs::Mismatch(MismatchReason::Address);
    }
    ReplyEcs::Matches { scope: got.scope() }
}

/// [`check_reply`] on a reply's raw OPT RDATA (`None`: the reply had no OPT record). A malformed
/// option is a mismatch: the reply cannot be trusted to be ours (E11).
pub fn check_reply_opt(sent: &Ecs, reply_opt_rdata: Option<&[u8]>) -> ReplyEcs {
    let Some(rdata) = reply_opt_rdata else {
        return ReplyEcs::Absent;
    };
    match find_ecs(rdata, Direction::Response) {
        Ok(got) => check_reply(sent, got.as_ref()),
        Err(e) => ReplyEcs::Mismatch(MismatchReason::Malformed(e)),
    }
}

/// Under which prefix an answer is cached, and so which queries it may serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheScope {
    /// SCOPE 0 (or no ECS from a server that never sees it): serves every query (E20).
    Global,
    /// The answer to a query that carried no client address to a server that would have been sent
    /// one: serves only queries without a subnet (E09, E20).
    SourceZeroOnly,
    /// SCOPE ≤ SOURCE: the first SCOPE bits of the sent address; serves every query whose subnet
    /// lies inside it (E14).
    Covering(IpNet),
    /// SCOPE > SOURCE: the sent SOURCE bits; serves only queries with exactly this subnet (E15).
    ExactSource(IpNet),
}

/// How to cache the answer to a query that carried `sent` and got back `scope` (E14, E15, E20).
///
/// A /0 `sent` (a SOURCE-0 query, E09) caches as [`CacheScope::SourceZeroOnly`] whatever the scope.
pub fn cache_scope(sent: IpNet, scope: u8) -> CacheScope {
    let sent = sent.trunc();
    let source = sent.prefix_len();
    if source == 0 {
        CacheScope::SourceZeroOnly
    } else if scope == 0 {
        CacheScope::Global
    } else if scope <= source {
        match IpNet::new(sent.addr(), scope) {
            Ok(net) => CacheScope::Covering(net.trunc()),
            Err(_) => CacheScope::ExactSource(sent),
        }
    } else {
        CacheScope::ExactSource(sent)
    }
}

/// How `scoped trace` and the logs say whom a cached answer serves.
impl std::fmt::Display for CacheScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Global => f.write_str("for every client"),
            Self::SourceZeroOnly => f.write_str("for queries without a subnet only"),
            Self::Covering(net) => write!(f, "under {net}"),
            Self::ExactSource(net) => write!(f, "for exactly {net}"),
        }
    }
}

impl CacheScope {
    /// How to cache an answer obtained without sending ECS. From a server that may receive ECS
    /// (allowlisted, E01) it was tailored to nobody in particular and serves only other queries
    /// without a subnet; from any other server it is the same for every client.
    pub const fn without_ecs(server_allowlisted: bool) -> Self {
        if server_allowlisted {
            Self::SourceZeroOnly
        } else {
            Self::Global
        }
    }

    /// Whether an entry cached under `self` may answer a query whose decided subnet is `query`
    /// (`None`: a query without a subnet) (E09, E14, E15, E20).
    pub fn serves(&self, query: Option<IpNet>) -> bool {
        match (self, query) {
            (Self::Global, _) => true,
            (Self::SourceZeroOnly, q) => q.is_none(),
            (Self::Covering(net), Some(q)) => net.contains(&q),
            (Self::ExactSource(net), Some(q)) => *net == q,
            (Self::Covering(_) | Self::ExactSource(_), None) => false,
        }
    }

    /// The SCOPE this entry stands for: 0 for global and no-subnet entries, the prefix length
    /// otherwise (for E15 entries, the SOURCE, as the echo caps it there anyway, E23).
    pub const fn scope_len(&self) -> u8 {
        match self {
            Self::Global | Self::SourceZeroOnly => 0,
            Self::Covering(IpNet::V4(n)) | Self::ExactSource(IpNet::V4(n)) => n.prefix_len(),
            Self::Covering(IpNet::V6(n)) | Self::ExactSource(IpNet::V6(n)) => n.prefix_len(),
        }
    }

    /// The prefix an entry is stored under, if tailored.
    pub const fn prefix(&self) -> Option<IpNet> {
        match self {
            Self::Global | Self::SourceZeroOnly => None,
            Self::Covering(net) | Self::ExactSource(net) => Some(*net),
        }
    }

    /// The family of a tailored entry.
    pub const fn family(&self) -> Option<Family> {
        match self {
            Self::Global | Self::SourceZeroOnly => None,
            Self::Covering(net) | Self::ExactSource(net) => Some(Family::of_net(net)),
        }
    }

    /// A rank for "longest prefix wins" among entries that all serve one query (E19): higher is
    /// more specific. Global 0, no-subnet 1, covering 2 + SCOPE, exact 2 + 128 + SOURCE.
    pub const fn specificity(&self) -> u16 {
        match self {
            Self::Global => 0,
            Self::SourceZeroOnly => 1,
            Self::Covering(_) => 2 + self.scope_len() as u16,
            Self::ExactSource(_) => 2 + 128 + self.scope_len() as u16,
        }
    }

    /// The scope of an answer assembled from two cached pieces (a CNAME chain, E18): the more
    /// specific one, so an untailored link never makes a tailored one global. Both are expected to
    /// serve the same query.
    pub const fn narrowest(self, other: Self) -> Self {
        if other.specificity() > self.specificity() {
            other
        } else {
            self
        }
    }

    /// A short, stable name of the kind of entry for metrics and traces (E24).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::SourceZeroOnly => "source_zero_only",
            Self::Covering(_) => "covering",
            Self::ExactSource(_) => "exact_source",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn sent() -> Ecs {
        Ecs::for_query(net("192.0.2.0/24"))
    }

    #[test]
    fn e24_a_cache_scope_says_whom_it_serves() {
        assert_eq!(CacheScope::Global.to_string(), "for every client");
        assert_eq!(
            CacheScope::SourceZeroOnly.to_string(),
            "for queries without a subnet only"
        );
        assert_eq!(
            cache_scope(net("192.0.2.0/24"), 16).to_string(),
            "under 192.0.0.0/16"
        );
        assert_eq!(
            cache_scope(net("192.0.2.0/24"), 28).to_string(),
            "for exactly 192.0.2.0/24"
        );
    }

    fn reply(prefix: &str, scope: u8) -> Ecs {
        Ecs::for_query(net(prefix)).with_scope(scope)
    }

    // --- E11 / E12 ---

    #[test]
    fn e11_matching_reply_gives_scope() {
        assert_eq!(
            check_reply(&sent(), Some(&reply("192.0.2.0/24", 20))),
            ReplyEcs::Matches { scope: 20 }
        );
    }

    #[test]
    fn e11_reply_with_other_source_is_mismatch() {
        assert_eq!(
            check_reply(&sent(), Some(&reply("192.0.2.0/23", 0))),
            ReplyEcs::Mismatch(MismatchReason::Source)
        );
    }

    #[test]
    fn e11_reply_with_other_family_is_mismatch() {
        assert_eq!(
            check_reply(&sent(), Some(&reply("2001:db8::/24", 0))),
            ReplyEcs::Mismatch(MismatchReason::Family)
        );
    }

    #[test]
    fn e11_reply_with_other_address_is_mismatch() {
        assert_eq!(
            check_reply(&sent(), Some(&reply("192.0.3.0/24", 24))),
            ReplyEcs::Mismatch(MismatchReason::Address)
        );
    }

    #[test]
    fn e11_reply_scope_longer_than_source_still_matches() {
        assert_eq!(
            check_reply(&sent(), Some(&reply("192.0.2.0/24", 32))),
            ReplyEcs::Matches { scope: 32 }
        );
    }

    #[test]
    fn e11_malformed_reply_option_is_mismatch() {
        let rdata = [0, 8, 0, 8, 0, 1, 24, 0, 192, 0, 2, 1];
        assert_eq!(
            check_reply_opt(&sent(), Some(&rdata)),
            ReplyEcs::Mismatch(MismatchReason::Malformed(EcsError::BadLength {
                expected: 7,
                got: 8
            }))
        );
    }

    #[test]
    fn e11_raw_matching_reply_gives_scope() {
        let rdata = [0, 8, 0, 7, 0, 1, 24, 16, 192, 0, 2];
        assert_eq!(
            check_reply_opt(&sent(), Some(&rdata)),
            ReplyEcs::Matches { scope: 16 }
        );
    }

    #[test]
    fn e11_mismatch_has_no_scope() {
        assert_eq!(ReplyEcs::Mismatch(MismatchReason::Source).scope(), None);
    }

    #[test]
    fn e12_reply_without_ecs_is_absent() {
        assert_eq!(check_reply(&sent(), None), ReplyEcs::Absent);
    }

    #[test]
    fn e12_reply_without_opt_is_absent() {
        assert_eq!(check_reply_opt(&sent(), None), ReplyEcs::Absent);
    }

    #[test]
    fn e12_opt_without_ecs_is_absent() {
        assert_eq!(check_reply_opt(&sent(), Some(&[])), ReplyEcs::Absent);
    }

    #[test]
    fn e12_absent_means_scope_zero() {
        assert_eq!(ReplyEcs::Absent.scope(), Some(0));
    }

    // --- E14 / E15 / E20 ---

    #[test]
    fn e14_scope_shorter_than_source() {
        assert_eq!(
            cache_scope(net("192.0.2.0/24"), 16),
            CacheScope::Covering(net("192.0.0.0/16"))
        );
    }

    #[test]
    fn e14_scope_equal_to_source() {
        assert_eq!(
            cache_scope(net("192.0.2.0/24"), 24),
            CacheScope::Covering(net("192.0.2.0/24"))
        );
    }

    #[test]
    fn e14_covering_entry_serves_every_client_inside() {
        assert!(CacheScope::Covering(net("192.0.0.0/16")).serves(Some(net("192.0.77.0/24"))));
    }

    #[test]
    fn e14_covering_entry_does_not_serve_outside() {
        assert!(!CacheScope::Covering(net("192.0.0.0/16")).serves(Some(net("192.1.0.0/24"))));
    }

    #[test]
    fn e14_covering_entry_does_not_serve_wider_query() {
        assert!(!CacheScope::Covering(net("192.0.2.0/24")).serves(Some(net("192.0.0.0/20"))));
    }

    #[test]
    fn e14_covering_entry_does_not_serve_other_family() {
        assert!(!CacheScope::Covering(net("0.0.0.0/8")).serves(Some(net("::/56"))));
    }

    #[test]
    fn e14_partial_octet_scope_is_masked() {
        assert_eq!(
            cache_scope(net("192.0.255.0/24"), 17),
            CacheScope::Covering(net("192.0.128.0/17"))
        );
    }

    #[test]
    fn e15_scope_longer_than_source() {
        assert_eq!(
            cache_scope(net("192.0.2.0/24"), 28),
            CacheScope::ExactSource(net("192.0.2.0/24"))
        );
    }

    #[test]
    fn e15_exact_entry_serves_same_source() {
        assert!(CacheScope::ExactSource(net("192.0.2.0/24")).serves(Some(net("192.0.2.0/24"))));
    }

    #[test]
    fn e15_exact_entry_does_not_serve_longer_source() {
        assert!(!CacheScope::ExactSource(net("192.0.2.0/24")).serves(Some(net("192.0.2.0/25"))));
    }

    #[test]
    fn e15_exact_entry_does_not_serve_shorter_source() {
        assert!(!CacheScope::ExactSource(net("192.0.2.0/24")).serves(Some(net("192.0.0.0/20"))));
    }

    #[test]
    fn e15_scope_echo_capped_at_source() {
        assert_eq!(cache_scope(net("192.0.2.0/24"), 28).scope_len(), 24);
    }

    #[test]
    fn e20_scope_zero_is_global() {
        assert_eq!(cache_scope(net("192.0.2.0/24"), 0), CacheScope::Global);
    }

    #[test]
    fn e20_global_serves_tailored_query() {
        assert!(CacheScope::Global.serves(Some(net("192.0.2.0/24"))));
    }

    #[test]
    fn e20_global_serves_source_zero_query() {
        assert!(CacheScope::Global.serves(None));
    }

    #[test]
    fn e20_source_zero_query_caches_source_zero_only() {
        assert_eq!(cache_scope(net("0.0.0.0/0"), 0), CacheScope::SourceZeroOnly);
    }

    #[test]
    fn e20_source_zero_entry_serves_source_zero_query() {
        assert!(CacheScope::SourceZeroOnly.serves(None));
    }

    #[test]
    fn e20_source_zero_entry_does_not_serve_tailored_query() {
        assert!(!CacheScope::SourceZeroOnly.serves(Some(net("192.0.2.0/24"))));
    }

    #[test]
    fn e09_tailored_entry_does_not_serve_source_zero_query() {
        assert!(!CacheScope::Covering(net("0.0.0.0/1")).serves(None));
    }

    #[test]
    fn e20_unsent_to_allowlisted_server_is_source_zero_only() {
        assert_eq!(CacheScope::without_ecs(true), CacheScope::SourceZeroOnly);
    }

    #[test]
    fn e01_unsent_to_other_server_is_global() {
        assert_eq!(CacheScope::without_ecs(false), CacheScope::Global);
    }

    // --- E18 / E19 ---

    #[test]
    fn e18_untailored_link_never_makes_tailored_global() {
        let tailored = CacheScope::Covering(net("192.0.2.0/24"));
        assert_eq!(CacheScope::Global.narrowest(tailored), tailored);
    }

    #[test]
    fn e18_chain_takes_longest_scope() {
        let (a, b) = (
            CacheScope::Covering(net("192.0.0.0/16")),
            CacheScope::Covering(net("192.0.2.0/24")),
        );
        assert_eq!(a.narrowest(b), b);
    }

    #[test]
    fn e18_exact_link_beats_covering_link() {
        let (a, b) = (
            CacheScope::ExactSource(net("192.0.2.0/24")),
            CacheScope::Covering(net("192.0.2.0/24")),
        );
        assert_eq!(b.narrowest(a), a);
    }

    #[test]
    fn e19_longer_prefix_is_more_specific() {
        assert!(
            CacheScope::Covering(net("192.0.2.0/24")).specificity()
                > CacheScope::Covering(net("192.0.0.0/16")).specificity()
        );
    }

    #[test]
    fn e19_any_tailored_is_more_specific_than_global() {
        assert!(
            CacheScope::Covering(net("0.0.0.0/1")).specificity() > CacheScope::Global.specificity()
        );
    }

    // --- E23 ---

    #[test]
    fn e23_echo_scope_from_cache_hit_equals_miss() {
        let client = Ecs::for_query(net("192.0.2.0/24"));
        let miss = cache_scope(net("192.0.2.0/24"), 20);
        assert_eq!(client.echo(24, miss.scope_len()).scope(), 20);
    }

    #[test]
    fn e23_echo_of_exact_entry_is_source() {
        let client = Ecs::for_query(net("192.0.2.0/24"));
        assert_eq!(
            client
                .echo(24, cache_scope(net("192.0.2.0/24"), 32).scope_len())
                .scope(),
            24
        );
    }

    #[test]
    fn scope_kinds_are_distinct() {
        let kinds = [
            CacheScope::Global.kind(),
            CacheScope::SourceZeroOnly.kind(),
            CacheScope::Covering(net("10.0.0.0/8")).kind(),
            CacheScope::ExactSource(net("10.0.0.0/8")).kind(),
        ];
        assert!(
            kinds
                .iter()
                .enumerate()
                .all(|(i, k)| !kinds[..i].contains(k))
        );
    }
}
