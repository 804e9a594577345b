//! Keeping answers fresh: prefetch of entries hit near the end of their TTL, and serving stale
//! data when a resolution fails or is slow (RFC 8767).

use ipnet::IpNet;
use scoped_cache::{CacheKey, Read};
use tokio::time::Instant;

use super::Recursor;
use super::answer::Noted;
use super::ctx::{Lookup, Role};
use super::request::{InflightKey, Part};
use super::stats::bump;
use crate::{Question, Resolution};

impl Recursor {
    /// Whether the caches keep expired data to serve (RFC 8767).
    pub(super) fn serves_stale(&self) -> bool {
        self.inner.cache.config().max_stale > 0 || self.inner.scoped.config().ttl.max_stale > 0
    }

    /// Refresh a client question in the background (prefetch), with its subnet as the client
    /// sent it — at the full configured length, not the scope of the entry that served it
    /// (E06). Nothing happens if it is already being resolved.
    pub(super) fn prefetch(&self, question: Question, subnet: Option<IpNet>) {
        let key = InflightKey::new(&question, subnet, self.validating());
        if let Part::Lead(lead) = self.flight(key, question, subnet, Role::Prefetch, Lookup::Again)
        {
            lead.detach();
            bump(&self.inner.stats.prefetches);
        }
    }

    /// The answer expired data would give (RFC 8767), if serve-stale is on and the cache
    /// still holds data for every link of it; its expired records carry the stale TTL.
    pub(super) fn stale_answer(
        &self,
        question: &Question,
        subnet: Option<IpNet>,
        now: Instant,
        checked: bool,
    ) -> Option<Resolution> {
        if !self.serves_stale() {
            return None;
        }
        let unused = Noted::default();
        let key = CacheKey::rrset(&question.name, question.qtype, question.qclass);
        let answer = self
            .answer_from_cache(question, &key, subnet, now, Read::Stale, &unused, checked)
            .answer()?;
        Some(Resolution {
            stale: true,
            ..answer
        })
    }
}
