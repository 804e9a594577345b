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
/// The owner is kept in lowercase wire form (each label behind its length octet, then the root's
/// zero octet), not as a hickory `Name`: equal keys are then equal bytes, an ancestor's key is a
/// suffix of the bytes, and making a key is one pass over the labels. Comparing and trimming
/// `Name`s (label by label from the root, folding case byte by byte, rebuilding a `Name` for
/// each ancestor) was a tenth of a cache miss's instructions (callgrind, docs/benchmarks.md).
///
/// The key also carries a hash of itself, computed once when it is made: moka's table compares
/// the looked-up key with the key of every bucket it probes, and equal hashes first turn nearly
/// every wrong probe into one integer compare. The hash is seeded per process, so whoever picks
/// the names cannot aim them at one bucket.
#[derive(Clone, Debug)]
pub struct CacheKey {
    pub(crate) hash: u64,
    pub(crate) name: Box<[u8]>,
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

/// `name` in lowercase wire form, sized to fit.
pub(crate) fn lower_wire(name: &Name) -> Box<[u8]> {
    // One pass over the labels into a buffer as long as the longest name, then one fold of the
    // case over all of it.
    let mut buf = [0u8; 256];
    let mut len = 0;
    for label in name.iter() {
        let end = len + 1 + label.len();
        // A valid name has at most 255 octets in wire form, so this never stops early.
        if end >= buf.len() {
            break;
        }
        buf[len] = label.len() as u8;
        buf[len + 1..end].copy_from_slice(label);
        len = end;
    }
    let out = &mut buf[..=len];
    out.make_ascii_lowercase();
    out.into()
}

/// The length of `name` in wire form, uncompressed: each label with its length octet, and the
/// root's zero octet. (hickory's `Name::len` counts a dot for each label, where the wire form
/// has the label's length octet, and one for a name of no labels.)
pub(crate) fn wire_len(name: &Name) -> usize {
    match name.iter().len() {
        0 => 1,
        _ => name.len() + 1,
    }
}

/// The offsets at which each label of a wire name starts, the name's own first: the ancestors
/// of the name are the suffixes from these offsets (the root's zero octet left out).
fn label_starts(wire: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::from(*wire.get(at)?);
        if len == 0 {
            return None;
        }
        let start = at;
        at += len + 1;
        Some(start)
    })
}

/// Whether the wire name `name` is `zone` or below it (both lowercase wire form).
pub(crate) fn wire_at_or_below(name: &[u8], zone: &[u8]) -> bool {
    if zone.len() == 1 {
        return true;
    }
    zone.len() <= name.len()
        && label_starts(name)
            .find(|&start| name.len() - start <= zone.len())
            .is_some_and(|start| name.len() - start == zone.len() && name[start..] == *zone)
}

impl CacheKey {
    fn new(name: &Name, rtype: Option<RecordType>, class: DNSClass) -> Self {
        Self::from_wire(lower_wire(name), rtype, class)
    }

    fn from_wire(name: Box<[u8]>, rtype: Option<RecordType>, class: DNSClass) -> Self {
        Self {
            hash: Self::hash_of(&name, rtype, class),
            name,
            rtype,
            class,
        }
    }

    /// The hash of the key whose owner is this lowercase wire name.
    fn hash_of(name: &[u8], rtype: Option<RecordType>, class: DNSClass) -> u64 {
        let mut state = KEY_SEED.build_hasher();
        state.write(name);
        state.write_u16(rtype.map_or(0, u16::from));
        state.write_u16(u16::from(class));
        state.finish()
    }

    /// The keys of kind `rtype` (class IN) of `name` and of each of its ancestors, deepest
    /// first, the root left out (and `name` itself too with `below`), kept only where `keep`
    /// says yes to the key's hash. The name is lowercased once; each ancestor is a suffix of
    /// its bytes, copied only for a hash that is kept: a walk up a long name through the
    /// counting filter builds nothing for the ancestors that surely hold nothing.
    pub(crate) fn up_the_tree(
        name: &Name,
        rtype: Option<RecordType>,
        below: bool,
        keep: impl FnMut(u64) -> bool,
    ) -> Vec<Self> {
        Self::suffix_keys(&lower_wire(name), rtype, below, keep)
    }

    /// [`up_the_tree`](Self::up_the_tree) from this key's owner, which is lowercase already.
    pub(crate) fn up_from(
        &self,
        rtype: Option<RecordType>,
        below: bool,
        keep: impl FnMut(u64) -> bool,
    ) -> Vec<Self> {
        Self::suffix_keys(&self.name, rtype, below, keep)
    }

    fn suffix_keys(
        lower: &[u8],
        rtype: Option<RecordType>,
        below: bool,
        mut keep: impl FnMut(u64) -> bool,
    ) -> Vec<Self> {
        let mut keys = Vec::new();
        for start in label_starts(lower).skip(usize::from(below)) {
            let suffix = &lower[start..];
            let hash = Self::hash_of(suffix, rtype, DNSClass::IN);
            if keep(hash) {
                keys.push(Self {
                    hash,
                    name: suffix.into(),
                    rtype,
                    class: DNSClass::IN,
                });
            }
        }
        keys
    }

    /// The owner name (lowercase).
    pub fn name(&self) -> Name {
        use hickory_proto::serialize::binary::BinDecodable;
        // The bytes were written from a valid name by `lower_wire`.
        Name::from_bytes(&self.name).unwrap_or_else(|_| Name::root())
    }

    /// A hash of the owner name alone, the same for every type and class (seeded per process
    /// like the key's own).
    pub(crate) fn name_hash(&self) -> u64 {
        let mut state = KEY_SEED.build_hasher();
        state.write(&self.name);
        state.finish()
    }

    /// The owner name in lowercase wire form.
    pub fn wire_name(&self) -> &[u8] {
        &self.name
    }

    /// The key of an RRset (or of a NODATA for that type).
    pub fn rrset(name: &Name, rtype: RecordType, class: DNSClass) -> Self {
        Self::new(name, Some(rtype), class)
    }

    /// The key of the same type for the owner's ancestor with its last `labels` labels (the
    /// owner itself if it has no more): a suffix of the bytes, no name to lowercase again.
    pub fn ancestor(&self, labels: usize) -> Self {
        let total = label_starts(&self.name).count();
        let name = match label_starts(&self.name).nth(total.saturating_sub(labels)) {
            Some(start) if labels < total => self.name[start..].into(),
            Some(_) => self.name.clone(),
            None => Box::from(&[0u8][..]),
        };
        Self::from_wire(name, self.rtype, self.class)
    }

    /// The key of the same owner with another type: no name to lowercase again.
    pub fn with_type(&self, rtype: Option<RecordType>) -> Self {
        Self::from_wire(self.name.clone(), rtype, self.class)
    }

    /// Whether this key is for `name` (lowercase wire form) or, with `subtree`, at or below
    /// it: what a flush removes.
    pub(crate) fn is_flushed_by(&self, name: &[u8], subtree: bool) -> bool {
        if subtree {
            wire_at_or_below(&self.name, name)
        } else {
            *self.name == *name
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

    #[test]
    fn a_key_is_its_lowercase_wire_name_and_gives_the_name_back() {
        let key = CacheKey::rrset(&name("WWW.Example.COM."), RecordType::A, DNSClass::IN);
        assert_eq!(key.wire_name(), b"\x03www\x07example\x03com\x00");
        assert_eq!(key.name().to_string(), "www.example.com.");
        assert_eq!(
            key,
            CacheKey::rrset(&name("www.example.com."), RecordType::A, DNSClass::IN)
        );
        assert_ne!(key, key.with_type(Some(RecordType::AAAA)));
        assert_eq!(
            key.with_type(None),
            CacheKey::name_error(&name("www.EXAMPLE.com."), DNSClass::IN)
        );
        assert_eq!(
            CacheKey::rrset(&Name::root(), RecordType::NS, DNSClass::IN).wire_name(),
            b"\x00"
        );
    }

    #[test]
    fn the_wire_length_is_that_of_hickorys_encoding_and_of_the_key() {
        use hickory_proto::serialize::binary::BinEncodable;
        let names = [
            Name::root(),
            Name::new(),
            name("com."),
            name("WWW.Example.COM."),
            name("www.example.com"),
            name("a.b.c.d.e.f.g.h."),
            Name::from_labels([&[b'x'; 63][..], &[b'Y'; 63][..], &[b'z'; 63][..]]).expect("ok"),
        ];
        for n in names {
            let encoded = n.to_bytes().expect("encodes");
            assert_eq!(wire_len(&n), encoded.len(), "{n:?}");
            let lower = lower_wire(&n);
            assert_eq!(lower.len(), encoded.len(), "{n:?}");
            assert_eq!(*lower, *encoded.to_ascii_lowercase(), "{n:?}");
        }
    }

    #[test]
    fn an_ancestors_key_is_the_key_made_for_the_ancestor() {
        let key = CacheKey::rrset(&name("A.b.Example.com."), RecordType::NS, DNSClass::IN);
        for (labels, want) in [
            (0, "."),
            (1, "com."),
            (2, "example.com."),
            (3, "b.example.com."),
            (4, "a.b.example.com."),
            (9, "a.b.example.com."),
        ] {
            let made = CacheKey::rrset(&name(want), RecordType::NS, DNSClass::IN);
            let got = key.ancestor(labels);
            assert_eq!(got, made, "{labels} labels");
            assert_eq!(got.hash, made.hash);
        }
    }

    #[test]
    fn a_flush_matches_the_name_or_its_subtree_on_label_boundaries() {
        let key = CacheKey::rrset(&name("a.example.com."), RecordType::A, DNSClass::IN);
        let wire = |s: &str| lower_wire(&name(s));
        assert!(key.is_flushed_by(&wire("A.example.com."), false));
        assert!(!key.is_flushed_by(&wire("example.com."), false));
        assert!(key.is_flushed_by(&wire("example.com."), true));
        assert!(key.is_flushed_by(&wire("com."), true));
        assert!(key.is_flushed_by(&wire("."), true));
        assert!(key.is_flushed_by(&wire("a.example.com."), true));
        // A suffix of the bytes that is not a suffix of the labels.
        assert!(!key.is_flushed_by(&wire("ample.com."), true));
        assert!(!key.is_flushed_by(&wire("xample.com."), true));
        assert!(!key.is_flushed_by(&wire("b.a.example.com."), true));
        assert!(!key.is_flushed_by(&wire("example.net."), true));
    }
}
