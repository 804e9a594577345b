//! The tailored cache's answers one by one, for `scoped ctl lookup` and `dump-cache`
//! ([`crate::view`]).

use hickory_proto::rr::{DNSClass, Name, RecordType};
use scoped_ecs::CacheScope;
use tokio::time::Instant;

use super::{FamilyKey, NameEntry, ScopedCache, Slot};
use crate::view::{CacheView, tailored_view};
use crate::{CacheKey, left_until};

impl ScopedCache {
    /// Every answer (the scope-0 ones and each tailored one, live or expired-but-kept), one
    /// (name, type) at a time, in no particular order.
    pub fn views(&self, now: Instant) -> impl Iterator<Item = CacheView> + '_ {
        self.entries
            .iter()
            .flat_map(move |(key, entry)| entry_views(&key, &entry, now))
    }

    /// The answers for `name` and `rtype` (with `rtype` `None`, every type: a walk of the
    /// whole cache), most specific scope first.
    pub fn views_of(&self, name: &Name, rtype: Option<RecordType>, now: Instant) -> Vec<CacheView> {
        match rtype {
            Some(rtype) => {
                let key = CacheKey::rrset(name, rtype, DNSClass::IN);
                self.entries
                    .get(&key)
                    .map(|entry| entry_views(&key, &entry, now))
                    .unwrap_or_default()
            }
            None => {
                let name = crate::key::lower_wire(name);
                self.entries
                    .iter()
                    .filter(|(key, _)| key.name == name && key.class == DNSClass::IN)
                    .flat_map(|(key, entry)| entry_views(&key, &entry, now))
                    .collect()
            }
        }
    }
}

/// The answers of one (name, type, class): tailored ones most specific first, then the
/// scope-0 ones.
fn entry_views(key: &CacheKey, entry: &NameEntry, now: Instant) -> Vec<CacheView> {
    fn family<'e, K: FamilyKey>(
        keys: &'e [K],
        slots: &'e [Slot],
    ) -> impl Iterator<Item = (CacheScope, &'e Slot)> {
        keys.iter()
            .zip(slots)
            .filter_map(|(k, slot)| Some((k.scope()?, slot)))
    }
    let view = |(scope, slot): (CacheScope, &Slot)| {
        let left = left_until(slot.expires, now);
        tailored_view(
            key,
            scope,
            slot.answer.at(left.unwrap_or(0)),
            left,
            slot.answer.validation(),
        )
    };
    family(&entry.v4.keys, &entry.v4.slots)
        .chain(family(&entry.v6.keys, &entry.v6.slots))
        .chain(
            entry
                .source_zero
                .iter()
                .map(|s| (CacheScope::SourceZeroOnly, s)),
        )
        .chain(entry.global.iter().map(|s| (CacheScope::Global, s)))
        .map(view)
        .collect()
}
