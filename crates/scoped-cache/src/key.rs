//! The key of the caches' tables: a lowercase owner name, a type (none for an NXDOMAIN) and a
//! class, carrying its own seeded hash.

use std::hash::{BuildHasher, Hasher};

use hickory_proto::rr::{DNSClass, Name, RecordType};

/// The hasher the caches' tables run over [`CacheKey`]s, which carry their own hash: hashing
/// one `u64`, any fast hasher will do.
pub type KeyHasher = foldhash::fast::RandomState;

/// The key of a cache entry: lowercased owner name, and the type (`None` for an NXDOMAIN, which
/// covers every type of the name).
///
/// The key carries a hash of itself, computed once when it is made. moka's table compares the
/// looked-up key with the key of every bucket it probes, hash or not; comparing `Name`s label by
/// label from the root (where names under one zone agree) made those probes ~12% of a cache
/// miss's CPU (perf, docs/benchmarks.md). Equal hashes first turns nearly every wrong probe
/// into one integer compare. The hash is seeded per process, so whoever picks the names cannot
/// aim them at one bucket.
#[derive(Clone, Debug)]
pub struct CacheKey {
    pub(crate) hash: u64,
    pub(crate) name: Name,
    pub(crate) rtype: Option<RecordType>,
    pub(crate) class: DNSClass,
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.rtype == other.rtype
            && self.class == other.class
            && self.name == other.name
    }
}

impl Eq for CacheKey {}

impl std::hash::Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// The per-process seed of [`CacheKey`] hashes.
static KEY_SEED: std::sync::LazyLock<foldhash::quality::RandomState> =
    std::sync::LazyLock::new(foldhash::quality::RandomState::default);

impl CacheKey {
    fn new(name: &Name, rtype: Option<RecordType>, class: DNSClass) -> Self {
        let name = name.to_lowercase();
        Self {
            hash: Self::hash_of(name.iter(), name.num_labels(), rtype, class),
            name,
            rtype,
            class,
        }
    }

    /// The hash of the key whose owner has these `count` (lowercase) labels.
    fn hash_of<'a>(
        labels: impl Iterator<Item = &'a [u8]>,
        count: u8,
        rtype: Option<RecordType>,
        class: DNSClass,
    ) -> u64 {
        let mut state = KEY_SEED.build_hasher();
        // Whole labels (already lowercase) and their count: `Name`'s own `Hash` lowercases and
        // hashes byte by byte.
        for label in labels {
            state.write(label);
        }
        state.write_u8(count);
        state.write_u16(rtype.map_or(0, u16::from));
        state.write_u16(u16::from(class));
        state.finish()
    }

    /// The keys of kind `rtype` (class IN) of `name` and of each of its ancestors, deepest
    /// first, the root left out (and `name` itself too with `below`), kept only where `keep`
    /// says yes to the key's hash. The name is lowercased once and an ancestor's `Name` is
    /// made only for a hash that is kept: a walk up a long name through the counting filter
    /// builds nothing for the ancestors that surely hold nothing.
    pub(crate) fn up_the_tree(
        name: &Name,
        rtype: Option<RecordType>,
        below: bool,
        mut keep: impl FnMut(u64) -> bool,
    ) -> Vec<Self> {
        let lower = name.to_lowercase();
        let labels: Vec<&[u8]> = lower.iter().collect();
        let total = labels.len();
        let first = usize::from(below);
        let mut keys = Vec::new();
        for skip in first..total {
            let count = total - skip;
            let Ok(count_u8) = u8::try_from(count) else {
                continue;
            };
            let hash = Self::hash_of(
                labels[skip..].iter().copied(),
                count_u8,
                rtype,
                DNSClass::IN,
            );
            if keep(hash) {
                keys.push(Self {
                    hash,
                    name: lower.trim_to(count),
                    rtype,
                    class: DNSClass::IN,
                });
            }
        }
        keys
    }

    /// The owner name (lowercase).
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The key of an RRset (or of a NODATA for that type).
    pub fn rrset(name: &Name, rtype: RecordType, class: DNSClass) -> Self {
        Self::new(name, Some(rtype), class)
    }

    /// Whether this key is for `name` (already lowercased) or, with `subtree`, at or below it:
    /// what a flush removes.
    pub(crate) fn is_flushed_by(&self, name: &Name, subtree: bool) -> bool {
        if subtree {
            name.zone_of(&self.name)
        } else {
            &self.name == name
        }
    }

    /// Whether `presence` counts keys of this kind: NXDOMAIN, CNAME, NS and DNAME (the zone-cut
    /// walk asks for NS at every ancestor, and the DNAME walk for DNAME; few names have one).
    pub(crate) fn is_filtered(&self) -> bool {
        matches!(
            self.rtype,
            None | Some(RecordType::CNAME) | Some(RecordType::NS) | Some(RecordType::DNAME)
        )
    }

    /// The key of an NXDOMAIN for the name.
    pub fn name_error(name: &Name, class: DNSClass) -> Self {
        Self::new(name, None, class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("a name")
    }

    #[test]
    fn keys_up_the_tree_equal_the_keys_made_for_each_ancestor() {
        let walked = CacheKey::up_the_tree(&name("WWW.Example.COM."), None, false, |_| true);
        let made: Vec<CacheKey> = ["www.example.com.", "example.com.", "com."]
            .into_iter()
            .map(|n| CacheKey::name_error(&name(n), DNSClass::IN))
            .collect();
        assert_eq!(walked, made);
        assert!(walked.iter().zip(&made).all(|(w, m)| w.hash == m.hash));
        let below = CacheKey::up_the_tree(&name("a.b.c."), Some(RecordType::NS), true, |_| true);
        let names: Vec<String> = below.iter().map(|k| k.name().to_string()).collect();
        assert_eq!(names, ["b.c.", "c."]);
    }

    #[test]
    fn keys_up_the_tree_keep_only_what_the_filter_keeps() {
        let target = CacheKey::rrset(&name("example.com."), RecordType::NS, DNSClass::IN);
        let walked = CacheKey::up_the_tree(
            &name("x.y.example.com."),
            Some(RecordType::NS),
            false,
            |h| h == target.hash,
        );
        assert_eq!(walked, [target]);
        assert!(CacheKey::up_the_tree(&Name::root(), None, false, |_| true).is_empty());
    }
}
