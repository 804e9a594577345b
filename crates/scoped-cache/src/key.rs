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
        let mut state = KEY_SEED.build_hasher();
        // Whole labels (already lowercase) and their count: `Name`'s own `Hash` lowercases and
        // hashes byte by byte.
        for label in name.iter() {
            state.write(label);
        }
        state.write_u8(name.num_labels());
        state.write_u16(rtype.map_or(0, u16::from));
        state.write_u16(u16::from(class));
        Self {
            hash: state.finish(),
            name,
            rtype,
            class,
        }
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
