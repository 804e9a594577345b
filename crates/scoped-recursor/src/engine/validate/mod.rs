//! DNSSEC validation of what a resolution fetched (RFC 4033–4035, RFC 5155; docs/dnssec.md).
//! The checks themselves are scoped-dnssec's; this step feeds them.
//!
//! Each final step of a client's resolution (an answer, a CNAME link, NXDOMAIN, NODATA) is
//! checked RRset by RRset against the keys of the zone that signed it, and negative answers
//! and wildcard expansions against the NSEC/NSEC3 records that came with them. A zone's keys
//! are trusted top-down from the closest trust anchor: the DS set from the parent (itself
//! verified with the parent's keys), then the zone's DNSKEY set against it; a signed proof
//! that the parent has no DS makes the zone, and everything below it, insecure. DS and DNSKEY
//! are fetched as infrastructure questions (never with ECS), and each zone's verdict is kept:
//! validated keys for their TTL, insecure zones for an hour, bogus ones for `bogus_ttl`.
//!
//! The verdict is stamped on the cached entries (`store.rs`); a bogus answer becomes a
//! SERVFAIL with its EDE, remembered for the question for `bogus_ttl`.

mod aggressive;
mod anchor_refresh;
mod anchor_roll;
mod cut;
mod ds;
mod evidence;
mod proof;
mod referral;
mod signatures;

pub(super) use evidence::{Evidence, with_sigs};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hickory_proto::rr::{Name, Record, RecordType};
use scoped_cache::Validation;
use scoped_dnssec::{
    ChainResult, DS, Denied, Reason, Security, SigCheck, Trust, ZoneKeys, prove_denial,
    validate_zone_keys, verify_rrset_with,
};
use scoped_ecs::CacheScope;
use tokio::time::Instant;

use super::ctx::Ctx;
use super::stats::bump;
use super::store::group_rrsets;
use super::{Recursor, ResolveError};
use crate::classify::{Step, cacheable_links, synthesised_answer};
use crate::{Ede, Question, Resolution};

/// Zones whose verdict is kept.
const ZONES_CAPACITY: u64 = 20_000;
/// Questions whose bogus verdict is kept.
const BOGUS_CAPACITY: u64 = 20_000;
/// How long a zone proven insecure (no DS at its parent) is remembered.
const INSECURE_TTL: u32 = 3600;

/// What is known of a zone's keys.
#[derive(Clone, Debug)]
enum ZoneState {
    Secure(Arc<ZoneKeys>),
    Insecure(Reason),
    Bogus(Reason),
    Indeterminate,
}

impl ZoneState {
    fn security(&self) -> Security {
        match self {
            Self::Secure(_) => Security::Secure,
            Self::Insecure(reason) => Security::Insecure(reason.clone()),
            Self::Bogus(reason) => Security::Bogus(reason.clone()),
            Self::Indeterminate => Security::Indeterminate,
        }
    }
}

/// The engine's DNSSEC memory: zone verdicts and the recent bogus verdicts of questions.
/// Reclaimed on moka's clock, read on tokio's.
pub(super) struct DnssecState {
    zones: moka::sync::Cache<Name, (Instant, ZoneState)>,
    bogus: moka::sync::Cache<(Name, RecordType), (Instant, Reason)>,
    /// The proofs of secure negative answers (`proof.rs`).
    proofs: proof::Proofs,
    /// The informational EDE of insecure answers (`proof.rs`).
    infos: proof::Infos,
    seen: proof::Seen,
    /// Validated NSEC ranges per zone (`aggressive.rs`).
    ranges: aggressive::Ranges,
    /// RFC 5011 state of the anchored zones' keys (`anchor_roll.rs`), once read.
    rollovers: std::sync::Mutex<Option<Vec<scoped_dnssec::Rollover>>>,
    /// When the anchored zones' keys are next fetched (`anchor_refresh.rs`).
    refresh: anchor_refresh::Schedule,
    /// When the engine started (tokio's clock: a pinned signature time advances with it).
    started: Instant,
    /// The DS parts of referrals (`referral.rs`).
    referrals: referral::Referrals,
    /// Zones whose keys a question is fetching: the others asking for them wait for its
    /// verdict instead of fetching too.
    fetching: std::sync::Mutex<HashMap<Name, Arc<tokio::sync::Mutex<()>>>>,
    /// Signatures already verified (`signatures.rs`).
    signatures: signatures::Signatures,
}

/// Held while a zone's keys are fetched; the entry in `fetching` goes with the last holder.
struct Fetching<'a> {
    state: &'a DnssecState,
    zone: Name,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        let mut fetching = self
            .state
            .fetching
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // The map's reference and ours: nobody else waits.
        if Arc::strong_count(&self.lock) <= 2 {
            fetching.remove(&self.zone);
        }
    }
}

impl Default for DnssecState {
    fn default() -> Self {
        let day = Duration::from_secs(86_400);
        Self {
            zones: moka::sync::Cache::builder()
                .max_capacity(ZONES_CAPACITY)
                .time_to_live(day)
                .build(),
            bogus: moka::sync::Cache::builder()
                .max_capacity(BOGUS_CAPACITY)
                .time_to_live(day)
                .build(),
            proofs: proof::proofs(),
            infos: proof::infos(),
            seen: proof::Seen::default(),
            ranges: aggressive::ranges(),
            rollovers: std::sync::Mutex::default(),
            refresh: anchor_refresh::Schedule::default(),
            started: Instant::now(),
            referrals: referral::referrals(),
            fetching: std::sync::Mutex::default(),
            signatures: signatures::Signatures::default(),
        }
    }
}

impl DnssecState {
    /// The lock of `zone`'s fetch (one question fetches a zone's keys at a time).
    fn fetching(&self, zone: &Name) -> Fetching<'_> {
        let mut fetching = self.fetching.lock().unwrap_or_else(|e| e.into_inner());
        let lock = fetching.entry(zone.clone()).or_default().clone();
        Fetching {
            state: self,
            zone: zone.clone(),
            lock,
        }
    }

    /// The verdict kept for `zone`, if still valid.
    fn kept(&self, zone: &Name) -> Option<ZoneState> {
        let (until, state) = self.zones.get(zone)?;
        (Instant::now() < until).then_some(state)
    }

    /// Forget every verdict (a flush).
    pub(super) fn clear(&self) {
        self.zones.invalidate_all();
        self.bogus.invalidate_all();
        self.proofs.invalidate_all();
        self.infos.invalidate_all();
        self.ranges.invalidate_all();
        self.referrals.invalidate_all();
    }
}

/// The SERVFAIL a bogus answer becomes: EDE with the reason's code and text (RFC 8914).
fn bogus_resolution(reason: &Reason) -> Resolution {
    let mut resolution = Resolution::servfail();
    resolution.ede = Some(Ede {
        code: reason.kind.ede().unwrap_or(6),
        text: Security::Bogus(reason.clone()).to_string(),
    });
    resolution
}

/// The verdict of several parts: bogus if one is (the first), else insecure if one is, else
/// indeterminate if one is, else secure.
fn combine(parts: Vec<Security>) -> Security {
    let mut worst = Security::Secure;
    for part in parts {
        let rank = |s: &Security| match s {
            Security::Secure => 0,
            Security::Indeterminate => 1,
            Security::Insecure(_) => 2,
            Security::Bogus(_) => 3,
        };
        if rank(&part) > rank(&worst) {
            worst = part;
        }
    }
    worst
}

impl Recursor {
    /// Whether DNSSEC validation is on.
    pub(super) fn validating(&self) -> bool {
        self.inner.config.dnssec.validation
    }

    /// Seconds since the epoch, as signatures count time.
    fn epoch_now(&self) -> u32 {
        let pinned = self.inner.config.dnssec.fixed_time.map(|start| {
            let elapsed = self.inner.dnssec.started.elapsed().as_secs();
            start.wrapping_add(elapsed as u32)
        });
        pinned.unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_secs() as u32)
        })
    }

    /// The SERVFAIL for a question found bogus less than `bogus_ttl` ago.
    pub(super) fn bogus_verdict(&self, question: &Question) -> Option<Resolution> {
        let key = (question.name.to_lowercase(), question.qtype);
        let (until, reason) = self.inner.dnssec.bogus.get(&key)?;
        (Instant::now() < until).then(|| bogus_resolution(&reason))
    }

    /// Remember that `question` was bogus, and the SERVFAIL it becomes.
    pub(super) fn remember_bogus(&self, question: &Question, reason: &Reason) -> Resolution {
        let until = Instant::now() + self.inner.config.dnssec.bogus_ttl;
        let key = (question.name.to_lowercase(), question.qtype);
        self.inner.dnssec.bogus.insert(key, (until, reason.clone()));
        bogus_resolution(reason)
    }

    /// Validate one final step of a client's resolution and stamp the verdict on what was
    /// cached from it. Bogus: `Err(ResolveError::Bogus)`. Otherwise the status, and the EDE
    /// of an insecure reason that has one (1, 2, 27).
    pub(super) async fn validate_step(
        &self,
        step: &Step,
        evidence: &Evidence,
        qtype: RecordType,
        scope: CacheScope,
        ctx: &Ctx,
    ) -> Result<(Validation, Option<Ede>), ResolveError> {
        let mut parts = Vec::new();
        let (links, denial) = match step {
            Step::Answer { links, records, .. } => {
                if !synthesised_answer(links, records) {
                    for rrset in group_rrsets(records.clone()) {
                        parts.push(self.check_rrset(&rrset, evidence, ctx).await?);
                    }
                }
                (links, None)
            }
            Step::Cname { links, .. } => (links, None),
            Step::NxDomain { links, name, .. } => (links, Some((name, Denied::NxDomain))),
            Step::NoData {
                links, name, rcode, ..
            } => {
                let nodata = *rcode == hickory_proto::op::ResponseCode::NoError;
                (links, nodata.then_some((name, Denied::NoData(qtype))))
            }
        };
        for link in cacheable_links(links) {
            let rrset = std::slice::from_ref(link);
            parts.push(self.check_rrset(rrset, evidence, ctx).await?);
        }
        if let Some((name, denied)) = denial {
            parts.push(self.check_denial(name, &denied, evidence, ctx).await?);
            // The SOA sets the negative TTL: in a signed zone it is signed like any RRset.
            if let Step::NxDomain { soa: Some(soa), .. } | Step::NoData { soa: Some(soa), .. } =
                step
            {
                let soa = std::slice::from_ref(soa.as_ref());
                parts.push(self.check_rrset(soa, evidence, ctx).await?);
            }
        }
        let security = if parts.is_empty() {
            Security::Indeterminate
        } else {
            combine(parts)
        };
        ctx.trace(|| format!("  DNSSEC: the answer is {security}"));
        let stats = &self.inner.stats;
        let (validation, ede) = match &security {
            Security::Bogus(reason) => {
                bump(&stats.dnssec_bogus);
                return Err(ResolveError::Bogus(Box::new(reason.clone())));
            }
            Security::Secure => (Validation::Secure, None),
            Security::Insecure(reason) => (Validation::Insecure, reason.kind.ede()),
            Security::Indeterminate => (Validation::Indeterminate, None),
        };
        bump(match validation {
            Validation::Secure => &stats.dnssec_secure,
            Validation::Insecure => &stats.dnssec_insecure,
            _ => &stats.dnssec_indeterminate,
        });
        // Secure data is kept with its RRSIGs, for clients that ask with DO.
        let sigs: &[Record] = match validation {
            Validation::Secure => &evidence.records,
            _ => &[],
        };
        self.store_step(step, qtype, scope, Instant::now(), true, validation, sigs);
        if validation == Validation::Secure {
            self.keep_proof(step, evidence, qtype, scope);
            if scope == CacheScope::Global {
                self.learn_ranges(step, evidence);
            }
        }
        let ede = ede.map(|code| Ede {
            code,
            text: security.to_string(),
        });
        Ok((validation, ede))
    }

    /// One RRset against the keys of the zone that signed it.
    async fn check_rrset(
        &self,
        rrset: &[Record],
        evidence: &Evidence,
        ctx: &Ctx,
    ) -> Result<Security, ResolveError> {
        let Some(first) = rrset.first() else {
            return Ok(Security::Indeterminate);
        };
        let (owner, rtype) = (&first.name, first.record_type());
        let dnssec = &self.inner.config.dnssec;
        if let Some(presumed) = dnssec.anchors.presumed(owner) {
            return Ok(presumed);
        }
        let sigs = evidence.sigs_for(owner, rtype);
        let Some(zone) = evidence.signer(owner, &sigs, false) else {
            return Ok(Security::Indeterminate);
        };
        let keys = match self.zone_state(&zone, ctx).await? {
            ZoneState::Secure(keys) => keys,
            other => return Ok(other.security()),
        };
        if sigs.is_empty()
            && let Some(reason) = self.unsigned_cut(&zone, &keys, owner, ctx).await?
        {
            return Ok(Security::Insecure(reason));
        }
        let now = self.epoch_now();
        let checked = (
            &keys.keys[..],
            &self.inner.dnssec.signatures as &dyn SigCheck,
        );
        let security = match verify_rrset_with(rrset, &sigs, &zone, checked, now, &dnssec.policy) {
            Ok(verified) => {
                ctx.trace(|| {
                    format!(
                        "  DNSSEC: {owner} {rtype}: signature by {zone} key {} verifies",
                        verified.key_tag
                    )
                });
                match verified.wildcard {
                    None => Security::Secure,
                    Some(closest_encloser) => match self.verified_denials(evidence, &zone, &keys) {
                        Ok(denials) => {
                            let denied = Denied::Wildcard { closest_encloser };
                            prove_denial(&zone, owner, &denied, &denials, &dnssec.policy)
                        }
                        Err(reason) => Security::Bogus(reason),
                    },
                }
            }
            Err(reason) => Security::Bogus(reason),
        };
        ctx.trace(|| format!("  DNSSEC: {owner} {rtype}: {security}"));
        Ok(security)
    }

    /// A negative answer for `name` against the NSEC/NSEC3 records that came with it.
    async fn check_denial(
        &self,
        name: &Name,
        denied: &Denied,
        evidence: &Evidence,
        ctx: &Ctx,
    ) -> Result<Security, ResolveError> {
        let dnssec = &self.inner.config.dnssec;
        if let Some(presumed) = dnssec.anchors.presumed(name) {
            return Ok(presumed);
        }
        let denial_sigs = evidence.denial_sigs();
        let Some(zone) = evidence.signer(name, &denial_sigs, false) else {
            return Ok(Security::Indeterminate);
        };
        let keys = match self.zone_state(&zone, ctx).await? {
            ZoneState::Secure(keys) => keys,
            other => return Ok(other.security()),
        };
        if denial_sigs.is_empty()
            && let Some(reason) = self.unsigned_cut(&zone, &keys, name, ctx).await?
        {
            return Ok(Security::Insecure(reason));
        }
        let security = match self.verified_denials(evidence, &zone, &keys) {
            Ok(denials) => prove_denial(&zone, name, denied, &denials, &dnssec.policy),
            Err(reason) => Security::Bogus(reason),
        };
        ctx.trace(|| format!("  DNSSEC: denial of {name} ({denied:?}): {security}"));
        Ok(security)
    }

    /// The NSEC/NSEC3 records of `zone` in `evidence`, each RRset verified with its keys; the
    /// first that does not verify makes the answer bogus.
    fn verified_denials(
        &self,
        evidence: &Evidence,
        zone: &Name,
        keys: &ZoneKeys,
    ) -> Result<Vec<Record>, Reason> {
        let now = self.epoch_now();
        let policy = &self.inner.config.dnssec.policy;
        let denials: Vec<Record> = evidence
            .records
            .iter()
            .filter(|r| matches!(r.record_type(), RecordType::NSEC | RecordType::NSEC3))
            .filter(|r| zone.zone_of(&r.name))
            .cloned()
            .collect();
        for rrset in group_rrsets(denials.clone()) {
            let sigs = evidence.sigs_for(&rrset[0].name, rrset[0].record_type());
            let checked = (
                &keys.keys[..],
                &self.inner.dnssec.signatures as &dyn SigCheck,
            );
            verify_rrset_with(&rrset, &sigs, zone, checked, now, policy)?;
        }
        Ok(denials)
    }

    /// What is known of `zone`'s keys: from the verdicts kept, else fetched and checked from
    /// the closest trust anchor down.
    fn zone_state<'a>(
        &'a self,
        zone: &'a Name,
        ctx: &'a Ctx,
    ) -> BoxFuture<'a, Result<ZoneState, ResolveError>> {
        Box::pin(async move {
            let zone = zone.to_lowercase();
            let dnssec = &self.inner.config.dnssec;
            match dnssec.anchors.presumed(&zone) {
                Some(Security::Insecure(reason)) => return Ok(ZoneState::Insecure(reason)),
                Some(_) => return Ok(ZoneState::Indeterminate),
                None => {}
            }
            if let Some(state) = self.inner.dnssec.kept(&zone) {
                return Ok(state);
            }
            // One question fetches; the others wait for it and take its verdict. Locks are
            // taken child before parent only (a zone waits for its parent's keys, never the
            // other way), so waiting cannot go round in a circle.
            let fetching = self.inner.dnssec.fetching(&zone);
            let _turn = fetching.lock.lock().await;
            if let Some(state) = self.inner.dnssec.kept(&zone) {
                return Ok(state);
            }
            let state = self.fetch_zone_state(&zone, ctx).await?;
            self.keep_zone_state(&zone, &state);
            ctx.trace(|| match &state {
                ZoneState::Secure(keys) => format!(
                    "  DNSSEC: zone {zone}: keys validated (entry key {})",
                    keys.entry_key_tag
                ),
                other => format!("  DNSSEC: zone {zone}: {}", other.security()),
            });
            Ok(state)
        })
    }

    /// Keep the verdict on `zone`'s keys: validated keys for their TTL, an insecure zone for
    /// an hour, a bogus one for `bogus_ttl`.
    fn keep_zone_state(&self, zone: &Name, state: &ZoneState) {
        let max_ttl = self.inner.cache.config().max_ttl;
        let ttl = match state {
            ZoneState::Secure(keys) => Duration::from_secs(u64::from(keys.ttl.min(max_ttl))),
            ZoneState::Insecure(_) => Duration::from_secs(u64::from(INSECURE_TTL.min(max_ttl))),
            ZoneState::Bogus(_) => self.inner.config.dnssec.bogus_ttl,
            ZoneState::Indeterminate => Duration::ZERO,
        };
        if !ttl.is_zero() {
            let until = Instant::now() + ttl;
            self.inner
                .dnssec
                .zones
                .insert(zone.clone(), (until, state.clone()));
        }
    }

    /// `zone`'s DNSKEY set fetched and checked against the anchor, or the DS set its parent
    /// proves.
    async fn fetch_zone_state(&self, zone: &Name, ctx: &Ctx) -> Result<ZoneState, ResolveError> {
        let dnssec = &self.inner.config.dnssec;
        let anchors = dnssec.anchors.clone();
        let Some(anchor) = anchors.closest(zone) else {
            return Ok(ZoneState::Indeterminate);
        };
        let ds_set: Vec<DS>;
        let anchor_keys: Vec<scoped_dnssec::DNSKEY>;
        let trust = if &anchor.zone == zone {
            anchor_keys = self.anchor_keys(anchor);
            Trust {
                ds: &anchor.ds,
                keys: &anchor_keys,
            }
        } else {
            match self.trusted_ds(zone, ctx).await? {
                Ok(ds) => {
                    ds_set = ds;
                    Trust::ds(&ds_set)
                }
                Err(state) => return Ok(state),
            }
        };
        let (step, evidence) = self.fetch(zone, RecordType::DNSKEY, ctx).await?;
        let dnskeys = match step {
            Step::Answer { records, .. } => records,
            _ => Vec::new(),
        };
        let sigs = evidence.sigs_for(zone, RecordType::DNSKEY);
        let now = self.epoch_now();
        Ok(
            match validate_zone_keys(zone, trust, &dnskeys, &sigs, now, &dnssec.policy) {
                ChainResult::Secure(keys) => {
                    if &anchor.zone == zone {
                        self.observe_anchor_keys(anchor, trust.keys, &dnskeys, &sigs, ctx);
                        self.schedule_anchor_refresh(zone, &dnskeys, &sigs);
                    }
                    ZoneState::Secure(Arc::new(keys))
                }
                ChainResult::Insecure(reason) => ZoneState::Insecure(reason),
                ChainResult::Bogus(reason) => ZoneState::Bogus(reason),
            },
        )
    }

    /// Ask for (`name`, `qtype`) — DS or DNSKEY — as an infrastructure question (no ECS, not
    /// validated itself), with what came with the answer.
    async fn fetch(
        &self,
        name: &Name,
        qtype: RecordType,
        ctx: &Ctx,
    ) -> Result<(Step, Box<Evidence>), ResolveError> {
        let max_depth = self.inner.config.max_subquery_depth;
        let Some(child) = ctx.child(name, qtype, max_depth) else {
            return Err(ResolveError::AllServersFailed(name.clone()));
        };
        ctx.trace(|| format!("  DNSSEC: fetching {name} {qtype}"));
        let (step, _, evidence) = self.query_name(name, qtype, &child).await?;
        Ok((step, evidence))
    }
}
