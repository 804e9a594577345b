//! The DNS64 step (RFC 6147): around the request step, once the answer is resolved and before
//! the front end renders it.
//!
//! - AAAA: when the answer is NODATA, or holds only AAAA records in the excluded ranges, and the
//!   name (the end of the CNAME chain, if any) has A records, the client gets AAAA records
//!   synthesised from them under the prefix, after the CNAME chain. NXDOMAIN and failures stand.
//! - PTR: a full reverse name of an address under the prefix is answered with a CNAME to the
//!   `in-addr.arpa` name of the embedded IPv4 address (RFC 6147 §5.3.1), followed like any
//!   CNAME: the client gets the IPv4 owner's own PTR, or its negative answer.
//!
//! Both lookups go through the request step, so they are cached, de-duplicated and carry the
//! client's subnet (ECS) like any question; the synthesised answer has the largest scope of the
//! data it was built from. It is never marked validated: a validating client cannot check it.
//! A client that set DO and CD validates for itself and gets no synthesis (§5.5).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_cache::Validation;

use super::Recursor;
use super::trace::TraceLines;
use crate::{Question, Resolution, ResolveRequest};

/// TTL of the CNAME from a reverse name under the prefix to its `in-addr.arpa` name. The mapping
/// changes only with the configuration; what the client may keep is bounded by the PTR data
/// that follows it anyway.
pub const DNS64_PTR_CNAME_TTL: u32 = 3600;

impl Recursor {
    /// Whether the DNS64 step handles this request.
    pub(super) fn dns64_applies(&self, request: &ResolveRequest) -> bool {
        self.routing().dns64.enabled
            && matches!(request.question.qtype, RecordType::AAAA | RecordType::PTR)
            && !(request.dnssec_ok && request.checking_disabled)
    }

    /// Resolve `request` (AAAA or PTR) with DNS64; `trace` collects `scoped trace`'s lines.
    pub(super) async fn with_dns64(
        &self,
        request: ResolveRequest,
        trace: Option<TraceLines>,
    ) -> Resolution {
        if request.question.qtype == RecordType::PTR {
            self.dns64_ptr(request, trace).await
        } else {
            self.dns64_aaaa(request, trace).await
        }
    }

    /// One question through the request step (or its traced twin).
    async fn dns64_lookup(
        &self,
        request: ResolveRequest,
        trace: &Option<TraceLines>,
    ) -> Resolution {
        match trace {
            None => self.resolve_cached(request).await,
            Some(lines) => self.trace_plain(request, lines.clone()).await,
        }
    }

    async fn dns64_aaaa(&self, request: ResolveRequest, trace: Option<TraceLines>) -> Resolution {
        let routing = self.routing();
        let config = &routing.dns64;
        let original = self.dns64_lookup(request.clone(), &trace).await;
        if original.rcode != ResponseCode::NoError {
            return original;
        }
        let is_usable = |r: &Record| matches!(&r.data, RData::AAAA(a) if !config.excluded(a.0));
        let is_excluded = |r: &Record| matches!(&r.data, RData::AAAA(a) if config.excluded(a.0));
        if original.answers.iter().any(is_usable) {
            return drop_excluded(original, is_excluded);
        }
        let target = chain_end(&request.question.name, &original.answers);
        let a_request = ResolveRequest {
            question: Question::new(target.clone(), RecordType::A),
            ..request.clone()
        };
        let a = self.dns64_lookup(a_request, &trace).await;
        let v4: Vec<&Record> = a
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::A)
            .collect();
        if a.rcode != ResponseCode::NoError || v4.is_empty() {
            note(&trace, || {
                format!("DNS64: {target} has no A records; the AAAA answer stands")
            });
            return original;
        }
        // The negative answer's own lifetime bounds the synthesis too (RFC 6147 §5.1.7).
        let negative_ttl = original
            .authorities
            .iter()
            .filter_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.minimum.min(r.ttl)),
                _ => None,
            })
            .min();
        let mut answers: Vec<Record> = original
            .answers
            .iter()
            .chain(&a.answers)
            .filter(|r| r.record_type() == RecordType::CNAME)
            .cloned()
            .collect();
        let mut made = Vec::new();
        for record in v4 {
            let RData::A(addr) = &record.data else {
                continue;
            };
            let v6 = config.synthesise(addr.0);
            let ttl = negative_ttl.map_or(record.ttl, |n| n.min(record.ttl));
            made.push(format!("{} -> {v6}", addr.0));
            answers.push(Record::from_rdata(
                record.name.clone(),
                ttl,
                RData::AAAA(AAAA(v6)),
            ));
        }
        note(&trace, || {
            format!(
                "DNS64: synthesised from A of {target} with prefix {}: {} (scope /{})",
                config.prefix,
                made.join(", "),
                original.scope.max(a.scope)
            )
        });
        Resolution {
            rcode: ResponseCode::NoError,
            answers,
            authorities: Vec::new(),
            from_cache: original.from_cache && a.from_cache,
            stale: original.stale || a.stale,
            for_every_client: original.for_every_client && a.for_every_client,
            scope: original.scope.max(a.scope),
            security: self.synthesised_security(&request),
            ede: None,
        }
    }

    async fn dns64_ptr(&self, request: ResolveRequest, trace: Option<TraceLines>) -> Resolution {
        let target = self.routing().dns64.ptr_target(&request.question.name);
        let Some(target) = target else {
            return self.dns64_lookup(request, &trace).await;
        };
        note(&trace, || {
            format!(
                "DNS64: {} is under the prefix; CNAME to {target}",
                request.question.name
            )
        });
        let ptr_request = ResolveRequest {
            question: Question::new(target.clone(), RecordType::PTR),
            ..request.clone()
        };
        let ptr = self.dns64_lookup(ptr_request, &trace).await;
        if !matches!(ptr.rcode, ResponseCode::NoError | ResponseCode::NXDomain) {
            return ptr;
        }
        let cname = Record::from_rdata(
            request.question.name.clone(),
            DNS64_PTR_CNAME_TTL,
            RData::CNAME(CNAME(target)),
        );
        let mut answers = vec![cname];
        answers.extend(
            ptr.answers
                .iter()
                .filter(|r| r.record_type() != RecordType::RRSIG)
                .cloned(),
        );
        Resolution {
            answers,
            authorities: without_rrsigs(ptr.authorities),
            // A CNAME chain: the front end replays it only to the client subnet it was for.
            for_every_client: false,
            security: self.synthesised_security(&request),
            ede: None,
            ..ptr
        }
    }

    /// What DNSSEC says about a synthesised answer: insecure when validation ran (it cannot be
    /// proven, so it never carries AD), unchecked when it did not.
    fn synthesised_security(&self, request: &ResolveRequest) -> Validation {
        if self.validating() && !request.checking_disabled {
            Validation::Insecure
        } else {
            Validation::Unchecked
        }
    }
}

/// The name the answer's CNAME chain ends at (`qname` itself without a chain).
fn chain_end(qname: &Name, answers: &[Record]) -> Name {
    let mut name = qname.clone();
    // Bounded by the chain's length; a loop cannot hold the walk.
    for _ in 0..answers.len() {
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if r.name == name => Some(target.0.clone()),
            _ => None,
        });
        match next {
            Some(target) => name = target,
            None => break,
        }
    }
    name
}

/// The answer without its AAAA records in the excluded ranges. The AAAA set it came in is no
/// longer the one signed: the signatures go and it is no longer secure.
fn drop_excluded(mut resolution: Resolution, excluded: impl Fn(&Record) -> bool) -> Resolution {
    if !resolution.answers.iter().any(&excluded) {
        return resolution;
    }
    resolution
        .answers
        .retain(|r| !excluded(r) && r.record_type() != RecordType::RRSIG);
    if resolution.security == Validation::Secure {
        resolution.security = Validation::Insecure;
    }
    resolution
}

fn without_rrsigs(records: Vec<Record>) -> Vec<Record> {
    records
        .into_iter()
        .filter(|r| r.record_type() != RecordType::RRSIG)
        .collect()
}

fn note(trace: &Option<TraceLines>, line: impl FnOnce() -> String) {
    if let Some(lines) = trace {
        lines.lock().unwrap_or_else(|e| e.into_inner()).push(line());
    }
}
