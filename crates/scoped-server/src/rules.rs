//! Who may query and how a client's subnet is decided: the ACL and the ECS policy, replaceable
//! while serving (a reload) through a [`RulesHandle`].
//!
//! The hot path must not pay for that: a receive loop keeps the rules it last used in its
//! [`ClientMemo`] with their version number, and only when the handle's version (one atomic
//! load per query) moved does it take the lock to fetch the new ones. The same memo holds the
//! verdict on the last client seen without an ECS option, which is dropped with the old rules,
//! so a reload takes effect for clients the loop has already seen.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use scoped_ecs::{SubnetDecision, SubnetPolicy};

use crate::acl::Acl;

/// The ACL and the client-subnet policy, as put in force together.
#[derive(Clone, Debug)]
pub struct ClientRules {
    /// Who may query.
    pub acl: Acl,
    /// How a client's subnet is decided (E02–E10).
    pub subnet_policy: SubnetPolicy,
}

/// The rules a running front end uses, replaceable while it serves. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct RulesHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    rules: RwLock<Arc<ClientRules>>,
    /// Bumped after every replacement: a reader that sees a new number sees the new rules.
    version: AtomicU64,
}

impl RulesHandle {
    /// Rules allowing `allow` and deciding subnets with `subnet_policy`.
    pub fn new(allow: &[IpNet], subnet_policy: SubnetPolicy) -> RulesHandle {
        RulesHandle {
            shared: Arc::new(Shared {
                rules: RwLock::new(Arc::new(ClientRules {
                    acl: Acl::new(allow),
                    subnet_policy,
                })),
                version: AtomicU64::new(0),
            }),
        }
    }

    /// Puts new rules in force for every query decided from now on, on every listener.
    pub fn replace(&self, allow: &[IpNet], subnet_policy: SubnetPolicy) {
        let rules = Arc::new(ClientRules {
            acl: Acl::new(allow),
            subnet_policy,
        });
        *self.shared.rules.write().unwrap_or_else(|e| e.into_inner()) = rules;
        self.shared.version.fetch_add(1, Ordering::Release);
    }

    /// The rules in force.
    pub fn current(&self) -> Arc<ClientRules> {
        self.shared
            .rules
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times the rules were replaced.
    pub fn version(&self) -> u64 {
        self.shared.version.load(Ordering::Acquire)
    }

    /// The rules in force, through `memo`: the lock is taken only when they changed since the
    /// memo last fetched them, and then the memo's client verdict is forgotten. Also returns
    /// that verdict, to read and replace.
    pub(crate) fn through<'m>(
        &self,
        memo: &'m mut ClientMemo,
    ) -> (&'m ClientRules, &'m mut Option<LastClient>) {
        let version = self.version();
        if memo.rules.as_ref().is_none_or(|(seen, _)| *seen != version) {
            memo.rules = None;
            memo.last_client = None;
        }
        let (_, rules) = memo.rules.get_or_insert_with(|| (version, self.current()));
        (rules, &mut memo.last_client)
    }
}

/// What a receive loop remembers between queries: the rules it last used (with their
/// version), and the verdict on the last client it saw without an ECS option — whether the ACL
/// lets it in and, if so, its subnet decision. Queries come in runs from one address (a load
/// balancer in front, a busy stub) and, without an ECS option, both depend on the address and
/// the rules alone. A query with an ECS option is decided afresh and leaves the verdict alone.
#[derive(Clone, Debug, Default)]
pub struct ClientMemo {
    rules: Option<(u64, Arc<ClientRules>)>,
    last_client: Option<LastClient>,
}

/// A client address and the verdict on it: `None` if the ACL refuses it, else its subnet
/// decision.
pub(crate) type LastClient = (IpAddr, Option<SubnetDecision>);
