//! Answers from the caches: link by link through a chain of CNAMEs and DNAMEs, the entry
//! tailored to the client's subnet winning over the untailored one (E19), the scope the longest
//! of the links used (E18). A DNAME is a link like a CNAME: cached under the scope of the answer
//! it came in, and used for every name below its owner, each getting the CNAME synthesised from
//! it (RFC 6672 §3.4).

use std::cell::Cell;
use std::sync::atomic::Ordering;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use ipnet::IpNet;
use scoped_cache::{AnswerEnd, AnswerStep, CacheKey, CachedData, Read, Validation};
use tokio::time::Instant;

use super::Recursor;
use crate::{Question, Resolution};

/// What the caches hold for a client question.
pub(super) enum FromCache {
    /// The whole answer.
    Answer(Resolution),
    /// The start of a CNAME chain, not its end.
    Partial,
    /// Nothing at all about the name: the resolution need not look again.
    Nothing,
}

/// What a read of the caches noticed on its way, beside what it found.
#[derive(Default)]
pub(super) struct Noted {
    /// A link claimed its entry's prefetch ([`Read::Hit`]).
    pub(super) refresh: Cell<bool>,
    /// An entry was in a cache under a key the read looked up, usable or not. Without one, a
    /// stale read of the same question finds nothing either.
    pub(super) seen: Cell<bool>,
}

impl FromCache {
    /// The answer, if the caches hold all of it.
    pub(super) fn answer(self) -> Option<Resolution> {
        match self {
            Self::Answer(resolution) => Some(resolution),
            Self::Partial | Self::Nothing => None,
        }
    }
}

impl Recursor {
    /// The answer the caches hold for `question`, whose RRset key is `key`. With `checked`
    /// (validation on, CD clear), only validated entries count: unchecked data is resolved
    /// (and validated) again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn answer_from_cache(
        &self,
        question: &Question,
        key: &CacheKey,
        subnet: Option<IpNet>,
        now: Instant,
        read: Read,
        noted: &Noted,
        checked: bool,
    ) -> FromCache {
        let max_links = self.inner.config.max_cname_chain;
        let Some((cached, scope, security)) = self.cached_answer(
            (&question.name, key),
            question.qtype,
            subnet,
            max_links,
            now,
            read,
            noted,
            checked,
        ) else {
            return FromCache::Nothing;
        };
        let resolution = match cached.end {
            AnswerEnd::Records(records) => positive(cached.links, records, scope),
            AnswerEnd::Negative { rcode, soa } => negative(rcode, cached.links, Some(*soa), scope),
            AnswerEnd::NameTooLong => too_long(cached.links, scope),
            AnswerEnd::Continue(_) => return FromCache::Partial,
        };
        FromCache::Answer(Resolution {
            from_cache: true,
            security,
            ..resolution
        })
    }

    /// Assemble an answer from both caches, link by link: for each name the entry tailored to
    /// `subnet` wins over the untailored one (E19: any covering prefix is longer than 0), and the
    /// answer's scope is the longest of the links used (E18). `None` when nothing is known
    /// about `name` itself. `noted` says what the read saw on its way ([`Noted`]). `key` is
    /// the RRset key of `name` and `qtype`, made once by the caller.
    /// With `checked`, a link that was not validated counts as unknown (it is resolved again),
    /// and the status of the answer is that of its links together.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cached_answer(
        &self,
        (name, key): (&Name, &CacheKey),
        qtype: RecordType,
        subnet: Option<IpNet>,
        max_links: usize,
        now: Instant,
        read: Read,
        noted: &Noted,
        checked: bool,
    ) -> Option<(scoped_cache::CachedAnswer, u8, Validation)> {
        let mut security = Validation::Secure;
        // The first link is `name` itself, whose key the caller made; the next links' keys
        // are made as they are reached.
        let mut first = Some(key);
        let (answer, scope) = scoped_cache::follow_chain(name, qtype, max_links, |link| {
            let made;
            let key = match first.take() {
                Some(key) => key,
                None => {
                    made = CacheKey::rrset(link, qtype, DNSClass::IN);
                    &made
                }
            };
            let (step, scope, claimed, validation) =
                self.cached_step((link, key), qtype, subnet, now, read, &noted.seen)?;
            if checked && validation == Validation::Unchecked {
                return None;
            }
            security = security.combine(validation);
            if claimed {
                noted.refresh.set(true);
            }
            Some((step, scope))
        })?;
        let security = if checked {
            security
        } else {
            Validation::Unchecked
        };
        Some((answer, scope, security))
    }

    /// One link from the tailored cache (for `subnet`), else from the untailored one, and
    /// whether the read claimed the entry's refresh. Keys are built only as the lookups need
    /// them, RRset first (as in `RecordCache::step`): a hit costs one lookup per cache. A
    /// tailored DNAME above the name is looked for only once one was ever cached. Also says
    /// what validation said about the entry. Sets `seen` when an entry was under a key looked
    /// up, usable or not (in the tailored cache, whose reads tell no more: when its name
    /// filter cannot rule the name out, or a tailored DNAME above it is looked for).
    pub(super) fn cached_step(
        &self,
        (name, key): (&Name, &CacheKey),
        qtype: RecordType,
        subnet: Option<IpNet>,
        now: Instant,
        read: Read,
        seen: &Cell<bool>,
    ) -> Option<(AnswerStep, u8, bool, Validation)> {
        let class = DNSClass::IN;
        let tailored = |key: CacheKey| {
            let (hit, claimed) = self.inner.scoped.read(&key, subnet, now, read)?;
            let scope = hit.scope.scope_len();
            let validation = hit.validation;
            AnswerStep::from_data(hit.data, qtype).map(|step| (step, scope, claimed, validation))
        };
        // Most resolvers' clients bring no subnet: then the tailored cache stays empty. With
        // some that do, most names still have nothing tailored, which its name filter says
        // without a lookup.
        let any_tailored = self.inner.scoped.may_hold_name(key);
        if any_tailored {
            seen.set(true);
        }
        any_tailored
            .then(|| tailored(key.clone()))
            .flatten()
            .or_else(|| any_tailored.then(|| tailored(CacheKey::name_error(name, class)))?)
            .or_else(|| {
                (any_tailored && qtype != RecordType::CNAME)
                    .then(|| tailored(CacheKey::rrset(name, RecordType::CNAME, class)))
                    .flatten()
            })
            .or_else(|| {
                let dnames = self.inner.tailored_dnames.load(Ordering::Relaxed);
                // A DNAME above is another name's: the filter of this one says nothing of it.
                (dnames && !self.inner.scoped.is_empty())
                    .then(|| {
                        seen.set(true);
                        self.tailored_dname_above(name, subnet, now, read)
                    })
                    .flatten()
            })
            .or_else(|| {
                self.inner
                    .cache
                    .step_seen(name, key, now, read, seen)
                    .map(|(step, claimed, validation)| (step, 0, claimed, validation))
            })
    }

    /// The DNAME tailored to `subnet` at the closest ancestor of `name` that has one, as the
    /// step it makes for `name`, with its scope and whether the read claimed its refresh.
    fn tailored_dname_above(
        &self,
        name: &Name,
        subnet: Option<IpNet>,
        now: Instant,
        read: Read,
    ) -> Option<(AnswerStep, u8, bool, Validation)> {
        let mut owner = name.base_name();
        while !owner.is_root() {
            let key = CacheKey::rrset(&owner, RecordType::DNAME, DNSClass::IN);
            if let Some((hit, claimed)) = self.inner.scoped.read(&key, subnet, now, read)
                && let CachedData::Rrset { records, .. } = hit.data
                && !records.is_empty()
            {
                let step = AnswerStep::from_dname(name, records)?;
                return Some((step, hit.scope.scope_len(), claimed, hit.validation));
            }
            owner = owner.base_name();
        }
        None
    }
}

pub(super) fn positive(mut links: Vec<Record>, records: Vec<Record>, scope: u8) -> Resolution {
    links.extend(records);
    Resolution {
        rcode: ResponseCode::NoError,
        answers: links,
        authorities: Vec::new(),
        from_cache: false,
        stale: false,
        for_every_client: false,
        scope,
        security: Validation::Unchecked,
        ede: None,
    }
}

pub(super) fn negative(
    rcode: ResponseCode,
    links: Vec<Record>,
    soa: Option<Record>,
    scope: u8,
) -> Resolution {
    Resolution {
        rcode,
        answers: links,
        authorities: soa.into_iter().collect(),
        from_cache: false,
        stale: false,
        for_every_client: false,
        scope,
        security: Validation::Unchecked,
        ede: None,
    }
}

/// YXDOMAIN: the DNAME that ends `links` would make a name longer than 255 octets (RFC 6672
/// §2.2). The links, the DNAME last, are the answer section.
pub(super) fn too_long(links: Vec<Record>, scope: u8) -> Resolution {
    negative(ResponseCode::YXDomain, links, None, scope)
}

pub(super) fn clamp(mut records: Vec<Record>, max_ttl: u32) -> Vec<Record> {
    for record in &mut records {
        record.ttl = record.ttl.min(max_ttl);
    }
    records
}
