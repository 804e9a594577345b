//! The upstream ECS decision: whether one query to one authoritative server carries the client
//! subnet, and if not, why (E01, E16).
//!
//! The engine asks [`UpstreamEcs::decide`] once per server asked and gets back a value that
//! carries its own reason: the counter it bumps, the line `scoped trace` prints and the scope an
//! answer without ECS is cached under all come from it, so the reason is never derived twice.

use std::fmt;

use ipnet::IpNet;

use crate::option::Ecs;
use crate::scope::CacheScope;

/// What kind of question the engine is sending, as far as ECS is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryPurpose {
    /// The client's own question (or a link of its CNAME chain).
    ClientQuestion,
    /// A QNAME-minimised step of the client's question: a question about an ancestor of the
    /// client's name, never the client's own (RFC 9156; E16).
    MinimisedStep,
    /// Infrastructure: a nameserver address, priming, or an NS/DS/DNSKEY/SOA question (E16).
    Infrastructure,
}

/// Why a query goes upstream without ECS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcsWithheld {
    /// The query has no client subnet (private client, opt-out, ECS off: see
    /// [`NoSubnetReason`](crate::NoSubnetReason)). `allowlisted`: the server would have been
    /// sent one.
    NoClientSubnet {
        /// Whether the server or zone is on the allowlist.
        allowlisted: bool,
    },
    /// Neither the server nor the zone is on the allowlist (E01).
    NotAllowlisted,
    /// An infrastructure question, never tailored (E16).
    Infrastructure,
    /// A QNAME-minimised step, about an ancestor of the client's name (E16, RFC 9156).
    /// `allowlisted`: the server would have been sent the subnet for the full name.
    MinimisedStep {
        /// Whether the server or zone is on the allowlist.
        allowlisted: bool,
    },
}

impl EcsWithheld {
    /// A short, stable, snake_case name for metrics and traces (E24); the engine's counter is
    /// `ecs_withheld_<reason>`.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::NoClientSubnet { .. } => "no_client_subnet",
            Self::NotAllowlisted => "not_allowlisted",
            Self::Infrastructure => "infrastructure",
            Self::MinimisedStep { .. } => "minimised",
        }
    }

    /// Under which prefix the answer to a query sent without ECS is cached (E09, E20): from a
    /// server that may receive ECS it is tailored to nobody in particular and serves only other
    /// queries without a subnet; from any other server, and for infrastructure, it serves all.
    pub const fn cache_scope(&self) -> CacheScope {
        match self {
            Self::NoClientSubnet { allowlisted } | Self::MinimisedStep { allowlisted } => {
                CacheScope::without_ecs(*allowlisted)
            }
            Self::NotAllowlisted | Self::Infrastructure => CacheScope::Global,
        }
    }
}

/// Whether one query to one server carries ECS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamEcs {
    /// Send this option (masked, SCOPE 0: E02, E04).
    Send(Ecs),
    /// Send no ECS option, for this reason.
    Withheld(EcsWithheld),
}

impl UpstreamEcs {
    /// The decision for one query: `subnet` is the client subnet decided at the front end (or
    /// `None`), `purpose` what the query is for, `allowlisted` whether the server's address or
    /// the zone asked is on the allowlist (E01). The first reason that holds is the one given: a
    /// minimised step, infrastructure, no subnet, not allowlisted.
    pub fn decide(subnet: Option<IpNet>, purpose: QueryPurpose, allowlisted: bool) -> Self {
        match (purpose, subnet) {
            (QueryPurpose::MinimisedStep, _) => {
                Self::Withheld(EcsWithheld::MinimisedStep { allowlisted })
            }
            (QueryPurpose::Infrastructure, _) => Self::Withheld(EcsWithheld::Infrastructure),
            (QueryPurpose::ClientQuestion, None) => {
                Self::Withheld(EcsWithheld::NoClientSubnet { allowlisted })
            }
            (QueryPurpose::ClientQuestion, Some(_)) if !allowlisted => {
                Self::Withheld(EcsWithheld::NotAllowlisted)
            }
            (QueryPurpose::ClientQuestion, Some(subnet)) => Self::Send(Ecs::for_query(subnet)),
        }
    }

    /// The option to send, if any.
    pub const fn option(&self) -> Option<Ecs> {
        match self {
            Self::Send(ecs) => Some(*ecs),
            Self::Withheld(_) => None,
        }
    }

    /// Why nothing is sent, if nothing is.
    pub const fn withheld(&self) -> Option<EcsWithheld> {
        match self {
            Self::Send(_) => None,
            Self::Withheld(why) => Some(*why),
        }
    }

    /// The name of the engine's counter for this decision: `ecs_sent` or
    /// `ecs_withheld_<reason>`.
    pub const fn counter(&self) -> &'static str {
        match self {
            Self::Send(_) => "ecs_sent",
            Self::Withheld(EcsWithheld::NoClientSubnet { .. }) => "ecs_withheld_no_client_subnet",
            Self::Withheld(EcsWithheld::NotAllowlisted) => "ecs_withheld_not_allowlisted",
            Self::Withheld(EcsWithheld::Infrastructure) => "ecs_withheld_infrastructure",
            Self::Withheld(EcsWithheld::MinimisedStep { .. }) => "ecs_withheld_minimised",
        }
    }
}

impl fmt::Display for EcsWithheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NoClientSubnet { .. } => "no client subnet",
            Self::NotAllowlisted => "not on the allowlist",
            Self::Infrastructure => "infrastructure lookup",
            Self::MinimisedStep { .. } => "minimised step",
        })
    }
}

impl fmt::Display for UpstreamEcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(ecs) => write!(f, "ECS {} (allowlisted)", ecs.prefix()),
            Self::Withheld(why) => write!(f, "no ECS ({why})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Option<IpNet> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn e01_subnet_goes_only_to_allowlisted_servers() {
        let sent = UpstreamEcs::decide(net("192.0.2.0/24"), QueryPurpose::ClientQuestion, true);
        assert_eq!(sent.option().map(|e| e.prefix()), net("192.0.2.0/24"));
        assert_eq!(sent.counter(), "ecs_sent");
        assert_eq!(sent.to_string(), "ECS 192.0.2.0/24 (allowlisted)");
        let withheld =
            UpstreamEcs::decide(net("192.0.2.0/24"), QueryPurpose::ClientQuestion, false);
        assert_eq!(withheld, UpstreamEcs::Withheld(EcsWithheld::NotAllowlisted));
        assert_eq!(withheld.counter(), "ecs_withheld_not_allowlisted");
        assert_eq!(withheld.to_string(), "no ECS (not on the allowlist)");
    }

    #[test]
    fn e16_infrastructure_never_carries_a_subnet_even_to_allowlisted_servers() {
        for subnet in [None, net("192.0.2.0/24")] {
            let decision = UpstreamEcs::decide(subnet, QueryPurpose::Infrastructure, true);
            assert_eq!(decision, UpstreamEcs::Withheld(EcsWithheld::Infrastructure));
            assert_eq!(decision.counter(), "ecs_withheld_infrastructure");
        }
    }

    #[test]
    fn e16_minimised_steps_never_carry_a_subnet() {
        let decision = UpstreamEcs::decide(net("2001:db8::/56"), QueryPurpose::MinimisedStep, true);
        assert_eq!(
            decision,
            UpstreamEcs::Withheld(EcsWithheld::MinimisedStep { allowlisted: true })
        );
        assert_eq!(decision.counter(), "ecs_withheld_minimised");
        assert_eq!(decision.to_string(), "no ECS (minimised step)");
    }

    #[test]
    fn e20_an_answer_without_ecs_from_an_allowlisted_server_serves_only_subnetless_queries() {
        let from_allowlisted = UpstreamEcs::decide(None, QueryPurpose::ClientQuestion, true);
        assert_eq!(
            from_allowlisted.withheld().map(|w| w.cache_scope()),
            Some(CacheScope::SourceZeroOnly)
        );
        let minimised = UpstreamEcs::decide(net("192.0.2.0/24"), QueryPurpose::MinimisedStep, true);
        assert_eq!(
            minimised.withheld().map(|w| w.cache_scope()),
            Some(CacheScope::SourceZeroOnly)
        );
        for global in [
            UpstreamEcs::decide(None, QueryPurpose::ClientQuestion, false),
            UpstreamEcs::decide(net("192.0.2.0/24"), QueryPurpose::ClientQuestion, false),
            UpstreamEcs::decide(net("192.0.2.0/24"), QueryPurpose::Infrastructure, true),
        ] {
            assert_eq!(
                global.withheld().map(|w| w.cache_scope()),
                Some(CacheScope::Global),
                "{global:?}"
            );
        }
    }

    #[test]
    fn no_subnet_is_its_own_reason() {
        let decision = UpstreamEcs::decide(None, QueryPurpose::ClientQuestion, true);
        assert_eq!(decision.counter(), "ecs_withheld_no_client_subnet");
        assert_eq!(decision.to_string(), "no ECS (no client subnet)");
    }
}
