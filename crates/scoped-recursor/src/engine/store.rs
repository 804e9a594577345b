//! Storing what a reply taught: untailored data in the record cache, tailored answers in the
//! tailored cache under their scope (E14–E22), and dropping rendered answers that a tailored
//! entry makes wrong. DNAMEs are stored as links are; the CNAMEs synthesised from them are not
//! (the cached DNAME synthesises them again, RFC 6672 §3.4).

use scoped_ecs::names::{is_within, same_name};
use std::sync::atomic::Ordering;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use scoped_cache::{CacheKey, CachedData, Trust, Validation, WireClients, lowercase_wire};
use scoped_ecs::CacheScope;
use tokio::time::Instant;

use super::Recursor;
use super::stats::bump;
use super::validate::with_sigs;
use crate::classify::{Step, cacheable_links, synthesised_answer};

/// Which rendered answers a tailored entry can make wrong (E19).
pub(super) enum Touched {
    /// Every name's at or below the owner: a DNAME.
    Subtree,
    /// Every type's of the owner: a CNAME or an NXDOMAIN.
    Name,
    /// The owner's of one type, under the entry's scope.
    Type(RecordType, CacheScope),
}

impl Recursor {
    /// Drop the rendered answers that a tailored entry for `name` can make wrong: an answer
    /// rendered as the same for every client, or for a subnet the entry now serves, may no
    /// longer be (E19).
    pub(super) fn forget_rendered(&self, name: &Name, touched: Touched) {
        let Some(wire) = &self.inner.wire else {
            return;
        };
        let wire_name = lowercase_wire(name);
        match touched {
            // A tailored DNAME redirects every name under it: a scan, but a rare one.
            Touched::Subtree => wire.flush(&wire_name, true),
            Touched::Name => wire.forget(&wire_name),
            Touched::Type(rtype, scope) => {
                let clients = match scope {
                    CacheScope::Covering(net) | CacheScope::ExactSource(net) => {
                        Some(WireClients::Subnet(net.trunc()))
                    }
                    CacheScope::SourceZeroOnly => Some(WireClients::NoSubnet),
                    CacheScope::Global => None,
                };
                let exact = clients
                    .is_some_and(|clients| wire.forget_for(&wire_name, u16::from(rtype), clients));
                if !exact {
                    wire.forget(&wire_name);
                }
            }
        }
    }

    /// Store what a response taught: untailored data in the record cache, an answer tailored to
    /// a client subnet in the tailored cache under `scope` — only answer-section data (E16), each
    /// link under the response's scope (E18), negative answers too (E17), each at its own TTL
    /// (E22). Stored unchecked: validation, when on, stamps its verdict afterwards
    /// ([`store_step`](Self::store_step) again, `validate.rs`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cache_step(
        &self,
        step: &Step,
        response: &Message,
        zone: &Name,
        qtype: RecordType,
        scope: CacheScope,
        now: Instant,
        keep_nxdomain: bool,
    ) {
        if scope != CacheScope::Global {
            bump(&self.inner.stats.tailored_answers_cached);
        }
        let unchecked = Validation::Unchecked;
        self.store_step(step, qtype, scope, now, keep_nxdomain, unchecked, &[]);
        if let Step::Answer { records, .. } = step
            && qtype == RecordType::NS
        {
            // Addresses of the NS targets (priming, NS queries): glue-grade, in bailiwick. NS
            // answers are never tailored (is_infrastructure).
            let targets: Vec<Name> = records
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_proto::rr::RData::NS(t) => Some(t.0.clone()),
                    _ => None,
                })
                .collect();
            let glue = response
                .additionals
                .iter()
                .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
                .filter(|r| {
                    is_within(&r.name, zone) && targets.iter().any(|t| same_name(t, &r.name))
                })
                .cloned()
                .collect();
            for rrset in group_rrsets(glue) {
                self.inner.cache.insert_rrset(rrset, Trust::Glue, now);
            }
        }
    }

    /// The answer part of [`cache_step`](Self::cache_step): the step's RRsets and negative
    /// entry, with what validation said about them; each RRset with its RRSIGs among `sigs`
    /// (kept after the records, for clients that ask with DO).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn store_step(
        &self,
        step: &Step,
        qtype: RecordType,
        scope: CacheScope,
        now: Instant,
        keep_nxdomain: bool,
        validation: Validation,
        sigs: &[Record],
    ) {
        let tailored = scope != CacheScope::Global;
        let store_rrset = |records: Vec<Record>, trust: Trust| {
            let records = with_sigs(records, sigs);
            if !tailored {
                self.inner
                    .cache
                    .insert_rrset_checked(records, trust, validation, now);
            } else if let Some(first) = records.first() {
                let key = CacheKey::rrset(&first.name, first.record_type(), first.dns_class);
                // A DNAME answers for every name below its owner.
                let touched = match first.record_type() {
                    RecordType::DNAME => {
                        self.inner.tailored_dnames.store(true, Ordering::Relaxed);
                        Touched::Subtree
                    }
                    RecordType::CNAME => Touched::Name,
                    rtype => Touched::Type(rtype, scope),
                };
                self.forget_rendered(&first.name, touched);
                let data = CachedData::Rrset { records, trust };
                self.inner
                    .scoped
                    .insert_checked(key, scope, data, validation, now);
            }
        };
        let store_negative = |name: &Name, rtype: Option<RecordType>, soa: &Record| {
            let soa = soa.clone();
            if !tailored {
                let cache = &self.inner.cache;
                cache.insert_negative_checked(name, rtype, soa, validation, now);
                return;
            }
            let (key, data) = match rtype {
                Some(rtype) => (
                    CacheKey::rrset(name, rtype, DNSClass::IN),
                    CachedData::NoData { soa: Box::new(soa) },
                ),
                None => (
                    CacheKey::name_error(name, DNSClass::IN),
                    CachedData::NxDomain { soa: Box::new(soa) },
                ),
            };
            self.forget_rendered(
                name,
                rtype.map_or(Touched::Name, |rtype| Touched::Type(rtype, scope)),
            );
            self.inner
                .scoped
                .insert_checked(key, scope, data, validation, now);
        };
        let trust_of = |aa: bool| {
            if aa {
                Trust::AuthoritativeAnswer
            } else {
                Trust::Answer
            }
        };
        match step {
            Step::Answer {
                links,
                records,
                authoritative,
            } => {
                for link in cacheable_links(links) {
                    store_rrset(vec![link.clone()], trust_of(*authoritative));
                }
                if qtype != RecordType::ANY && !synthesised_answer(links, records) {
                    store_rrset(records.clone(), trust_of(*authoritative));
                }
            }
            Step::Cname {
                links,
                authoritative,
                ..
            } => {
                for link in cacheable_links(links) {
                    store_rrset(vec![link.clone()], trust_of(*authoritative));
                }
            }
            Step::NxDomain { links, name, soa } => {
                for link in cacheable_links(links) {
                    store_rrset(vec![link.clone()], Trust::AuthoritativeAnswer);
                }
                if let Some(soa) = soa
                    && keep_nxdomain
                {
                    store_negative(name, None, soa);
                }
            }
            Step::NoData {
                links,
                name,
                soa,
                rcode,
            } => {
                // YXDOMAIN is not cached as such: the DNAME that caused it is, and says it again.
                for link in cacheable_links(links) {
                    store_rrset(vec![link.clone()], Trust::AuthoritativeAnswer);
                }
                if let Some(soa) = soa
                    && *rcode == ResponseCode::NoError
                {
                    store_negative(name, Some(qtype), soa);
                }
            }
        }
    }
}

impl Recursor {
    /// The zone's own NS set from the authority section of an authoritative answer (RFC 2181
    /// §5.4.1: it outranks the parent's referral and glue, which it replaces for the later
    /// questions), with the addresses of its targets given beside it (glue-grade).
    ///
    /// A live NS set already cached at this rank with the same targets is left as it is, its TTL
    /// not renewed: otherwise a server that lost the zone but still answers from its old copy
    /// would keep its delegation alive for ever by repeating it (the "ghost domain" problem);
    /// the NS set must expire on its own TTL for the parent to be asked again.
    pub(super) fn learn_zone_ns(&self, response: &Message, zone: &Name, name: &Name, now: Instant) {
        let Some(set) = crate::classify::authority_ns_set(response, zone, name) else {
            return;
        };
        // Nearly always the zone's own NS set is known already: compare it with the known
        // delegation before copying anything out of the reply.
        if let Some(known) = self.known_cut(&set[0].name, now)
            && known.ns_trust >= Trust::Authority
            && same_targets(&known.delegation, &set)
        {
            return;
        }
        let Some((ns_records, addresses)) = crate::classify::authority_ns(response, zone, name)
        else {
            return;
        };
        let cache = &self.inner.cache;
        let Some(first) = ns_records.first() else {
            return;
        };
        // Compared as lowercase wire bytes: sorting `Name`s orders them label by label.
        let targets = |records: &[Record]| {
            let mut names: Vec<Vec<u8>> = records
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_proto::rr::RData::NS(t) => Some(lowercase_wire(&t.0)),
                    _ => None,
                })
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let same = cache
            .rrset(&first.name, RecordType::NS, Trust::Authority, now)
            .is_some_and(|cached| targets(&cached) == targets(&ns_records));
        if same {
            return;
        }
        cache.insert_rrset(ns_records, Trust::Authority, now);
        for rrset in group_rrsets(addresses) {
            cache.insert_rrset(rrset, Trust::Glue, now);
        }
    }
}

/// Whether the NS records name exactly the nameservers of `delegation` (as sets).
fn same_targets(delegation: &crate::classify::Delegation, set: &[&Record]) -> bool {
    let targets = || {
        set.iter().filter_map(|r| match &r.data {
            hickory_proto::rr::RData::NS(t) => Some(&t.0),
            _ => None,
        })
    };
    targets().all(|t| delegation.servers.iter().any(|s| same_name(&s.name, t)))
        && delegation
            .servers
            .iter()
            .all(|s| targets().any(|t| same_name(&s.name, t)))
}

/// Split records into RRsets (same owner, type, class), keeping order of first appearance.
pub(super) fn group_rrsets(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut sets: Vec<Vec<Record>> = Vec::new();
    for record in records {
        match sets.iter_mut().find(|set| {
            same_name(&set[0].name, &record.name)
                && set[0].record_type() == record.record_type()
                && set[0].dns_class == record.dns_class
        }) {
            Some(set) => set.push(record),
            None => sets.push(vec![record]),
        }
    }
    sets
}
