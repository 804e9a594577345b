//! One link of an answer from the record cache, as a client question reads it: the RRset or
//! negative entry at the name, an NXDOMAIN above it, a CNAME, a DNAME above it — with what
//! DNSSEC validation said about the entry.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use tokio::time::Instant;

use crate::chain::rrsigs;
use crate::{AnswerStep, CacheKey, CachedData, Read, RecordCache, Validation};

impl RecordCache {
    /// One link of an answer for a client: the RRset (or NODATA) of `qtype`, else an NXDOMAIN
    /// for the name or any name above it (RFC 8020: nothing exists below a name that does not
    /// exist), else a CNAME to follow, else a DNAME at a name above it (RFC 6672 §3.4: the
    /// CNAME is synthesised from it) — client-grade data only. The RRset is looked up first so
    /// a cache hit costs one lookup; ancestors are only visited on the way to a miss.
    pub fn answer_step(&self, name: &Name, qtype: RecordType, now: Instant) -> Option<AnswerStep> {
        self.step(name, qtype, now, Read::Live)
            .map(|(step, _)| step)
    }

    /// [`answer_step`](Self::answer_step) as `read` sees the cache, and whether the read
    /// claimed the refresh of the entry that gave the step (only [`Read::Hit`] claims).
    pub fn step(
        &self,
        name: &Name,
        qtype: RecordType,
        now: Instant,
        read: Read,
    ) -> Option<(AnswerStep, bool)> {
        self.step_checked(name, qtype, now, read)
            .map(|(step, refresh, _)| (step, refresh))
    }

    /// [`step`](Self::step), with what validation said about the entry that gave the step.
    pub fn step_checked(
        &self,
        name: &Name,
        qtype: RecordType,
        now: Instant,
        read: Read,
    ) -> Option<(AnswerStep, bool, Validation)> {
        let key = CacheKey::rrset(name, qtype, DNSClass::IN);
        self.step_seen(name, &key, now, read, &Cell::new(false))
    }

    /// [`step_checked`](Self::step_checked), setting `seen` when any entry it looked up was in
    /// the cache, whatever its age, trust or validation: left unset, a step by any other
    /// [`Read`] (a stale one above all) would find nothing either, for it looks up the same
    /// keys. On a miss the resolver needs no timer for a stale answer then.
    ///
    /// `key` is the question's, [`CacheKey::rrset`] of `name` and the type asked (made once by
    /// the caller, which keys other tables with it too); the other keys looked up are its type
    /// changed or its suffixes.
    pub fn step_seen(
        &self,
        name: &Name,
        key: &CacheKey,
        now: Instant,
        read: Read,
        seen: &Cell<bool>,
    ) -> Option<(AnswerStep, bool, Validation)> {
        let qtype = key.rtype;
        match self.read_checked(key, now, read, seen) {
            Some((CachedData::Rrset { records, trust }, refresh, v)) if trust.answers_clients() => {
                return Some((AnswerStep::Records(records), refresh, v));
            }
            Some((CachedData::NoData { soa }, refresh, v)) => {
                return Some((
                    AnswerStep::Negative(ResponseCode::NoError, *soa),
                    refresh,
                    v,
                ));
            }
            _ => {}
        }
        if let Some(found) = self.name_error_at_or_above(key, now, read, seen) {
            return Some(found);
        }
        if qtype != Some(RecordType::CNAME)
            && let Some((CachedData::Rrset { mut records, trust }, refresh, v)) =
                self.read_checked(&key.with_type(Some(RecordType::CNAME)), now, read, seen)
            && trust.answers_clients()
            && !records.is_empty()
        {
            let sigs = rrsigs(records.split_off(1));
            return Some((AnswerStep::Cname(records.remove(0), sigs), refresh, v));
        }
        self.dname_above_checked(key, now, read, seen)
            .and_then(|(records, refresh, v)| {
                Some((AnswerStep::from_dname(name, records)?, refresh, v))
            })
    }

    /// The client-grade DNAME at the closest ancestor of `name` that has one (the root
    /// excepted), as `read` sees it, and whether the read claimed its refresh. Costs nothing
    /// until a DNAME was ever stored, then one filter probe per ancestor.
    pub fn dname_above(&self, name: &Name, now: Instant, read: Read) -> Option<(Record, bool)> {
        let key = CacheKey::rrset(name, RecordType::DNAME, DNSClass::IN);
        self.dname_above_checked(&key, now, read, &Cell::new(false))
            .map(|(mut records, refresh, _)| (records.swap_remove(0), refresh))
    }

    /// The cached DNAME RRset above the owner of `key` (the DNAME, then its RRSIGs), never
    /// empty.
    fn dname_above_checked(
        &self,
        key: &CacheKey,
        now: Instant,
        read: Read,
        seen: &Cell<bool>,
    ) -> Option<(Vec<Record>, bool, Validation)> {
        if !self.dnames.load(Ordering::Relaxed) {
            return None;
        }
        let may_hold = |hash| self.presence.may_hold(hash);
        for key in key.up_from(Some(RecordType::DNAME), true, may_hold) {
            if let Some((CachedData::Rrset { records, trust }, refresh, v)) =
                self.read_checked(&key, now, read, seen)
                && trust.answers_clients()
                && !records.is_empty()
            {
                return Some((records, refresh, v));
            }
        }
        None
    }

    /// A live (or, for [`Read::Stale`], recently expired) NXDOMAIN for `name` or one of its
    /// ancestors (RFC 8020 §2). The root never has one.
    fn name_error_at_or_above(
        &self,
        key: &CacheKey,
        now: Instant,
        read: Read,
        seen: &Cell<bool>,
    ) -> Option<(AnswerStep, bool, Validation)> {
        for key in key.up_from(None, false, |hash| self.presence.may_hold(hash)) {
            if let Some((CachedData::NxDomain { soa }, refresh, v)) =
                self.read_checked(&key, now, read, seen)
            {
                return Some((
                    AnswerStep::Negative(ResponseCode::NXDomain, *soa),
                    refresh,
                    v,
                ));
            }
        }
        None
    }
}
