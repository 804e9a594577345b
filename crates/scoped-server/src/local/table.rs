//! The table behind [`LocalZones`](super::LocalZones): one hash map keyed by lowercased wire
//! names, walked up the labels of a question's name.

use std::collections::HashMap;
use std::mem::size_of;

use hickory_proto::rr::{Name, Record};

use super::LocalZoneKind;

/// `Node::data` of a node without local data.
const NO_DATA: u32 = u32::MAX;

/// What the table knows of one name: whether it is a zone apex (and of which kind) and where
/// its local data is. Eight bytes, so a 100k-zone blocklist stays small.
#[derive(Clone, Copy, Debug)]
pub(super) struct Node {
    pub zone: Option<LocalZoneKind>,
    data: u32,
}

/// The local data of one owner name; no records: an empty non-terminal (a name with data
/// below it and none of its own), which exists (NODATA, not NXDOMAIN).
#[derive(Clone, Debug)]
pub(super) struct NameData {
    pub name: Name,
    pub records: Vec<Record>,
}

/// A question's place in the table.
pub(super) struct Found<'a> {
    /// The closest enclosing zone's apex, lowercased wire form.
    pub apex: &'a [u8],
    pub kind: LocalZoneKind,
    /// The local data (or empty non-terminal) at exactly the question's name.
    pub exact: Option<&'a NameData>,
}

#[derive(Default)]
pub(super) struct Table {
    nodes: HashMap<Box<[u8]>, Node, foldhash::fast::RandomState>,
    data: Vec<NameData>,
    /// Bit `n` set: some node's name has `n` labels (the root has 0). Label counts no node has
    /// are not looked up.
    depths: u128,
    /// A 256-bit filter of the top-level labels of every node's name ([`tld_bit`]): a name
    /// whose TLD's bit is clear (most names, when only the default zones are in force) is not
    /// local, without a single hash lookup. The root itself is a node only if `depths & 1`.
    tld_bits: [u64; 4],
    zones: usize,
}

/// The start of each label of a wire name, the root's terminal zero last: suffix `i` is
/// `wire[starts[i]..]`, with `count - 1 - i` labels. `None` for a malformed name.
fn label_starts(wire: &[u8], starts: &mut [u8; 128]) -> Option<usize> {
    let mut pos = 0;
    let mut count = 0;
    loop {
        let len = usize::from(*wire.get(pos)?);
        *starts.get_mut(count)? = u8::try_from(pos).ok()?;
        count += 1;
        if len == 0 {
            return (pos + 1 == wire.len()).then_some(count);
        }
        pos += 1 + len;
    }
}

/// The bit of a (lowercased) top-level label in `Table::tld_bits`: from its length and its
/// first and last bytes, which tell the usual TLDs apart without a hash.
fn tld_bit(label: &[u8]) -> usize {
    let (first, last) = match label {
        [] => (0, 0),
        [first, .., last] => (*first, *last),
        [only] => (*only, *only),
    };
    (label.len() * 31 + usize::from(first) * 7 + usize::from(last)) & 255
}

/// The last label before the root of a wire name (`com` of `www.example.com.`), if it has one.
fn top_label(wire: &[u8]) -> Option<&[u8]> {
    let mut pos = 0;
    let mut last = None;
    while let Some(&len) = wire.get(pos) {
        if len == 0 {
            break;
        }
        last = wire.get(pos + 1..pos + 1 + usize::from(len));
        pos += 1 + usize::from(len);
    }
    last
}

impl Table {
    pub fn zone_count(&self) -> usize {
        self.zones
    }

    pub fn data_names(&self) -> usize {
        self.data.iter().filter(|d| !d.records.is_empty()).count()
    }

    pub fn node(&self, wire: &[u8]) -> Option<Node> {
        self.nodes.get(wire).copied()
    }

    pub fn data_of(&self, node: Node) -> Option<&NameData> {
        (node.data != NO_DATA).then(|| &self.data[node.data as usize])
    }

    /// Makes `wire` (with `labels` labels) a zone apex of `kind`; `false` if it already is one.
    pub fn add_zone(&mut self, wire: &[u8], labels: u8, kind: LocalZoneKind) -> bool {
        let node = self.entry(wire, labels);
        if node.zone.is_some() {
            return false;
        }
        node.zone = Some(kind);
        self.zones += 1;
        true
    }

    /// The local data of `wire` (`name`), made empty if it has none yet.
    pub fn data_mut(&mut self, wire: &[u8], name: &Name) -> &mut NameData {
        let next = u32::try_from(self.data.len()).unwrap_or(NO_DATA - 1);
        let node = self.entry(wire, name.num_labels());
        let index = if node.data == NO_DATA {
            node.data = next;
            self.data.push(NameData {
                name: name.to_lowercase(),
                records: Vec::new(),
            });
            next
        } else {
            node.data
        };
        &mut self.data[index as usize]
    }

    fn entry(&mut self, wire: &[u8], labels: u8) -> &mut Node {
        self.depths |= 1u128 << (labels & 127);
        if let Some(tld) = top_label(wire) {
            let bit = tld_bit(tld);
            self.tld_bits[bit / 64] |= 1 << (bit % 64);
        }
        self.nodes.entry(wire.into()).or_insert(Node {
            zone: None,
            data: NO_DATA,
        })
    }

    /// The closest enclosing zone of `wire` (lowercased) and the data at `wire` itself.
    pub fn find(&self, wire: &[u8]) -> Option<Found<'_>> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut starts = [0u8; 128];
        let count = label_starts(wire, &mut starts)?;
        if count >= 2 && self.depths & 1 == 0 {
            let start = usize::from(starts[count - 2]) + 1;
            let bit = tld_bit(&wire[start..wire.len() - 1]);
            if self.tld_bits[bit / 64] & (1 << (bit % 64)) == 0 {
                return None;
            }
        }
        let mut exact = None;
        for (i, &start) in starts[..count].iter().enumerate() {
            let labels = count - 1 - i;
            if self.depths & (1u128 << labels) == 0 {
                continue;
            }
            let suffix = &wire[usize::from(start)..];
            let Some((key, node)) = self.nodes.get_key_value(suffix) else {
                continue;
            };
            if i == 0 {
                exact = self.data_of(*node);
            }
            if let Some(kind) = node.zone {
                return Some(Found {
                    apex: key,
                    kind,
                    exact,
                });
            }
        }
        None
    }

    /// Whether the full pipeline answers `wire` locally (see [`super::LocalZones::intercepts`]).
    pub fn intercepts(&self, wire: &[u8]) -> bool {
        match self.find(wire) {
            None => false,
            Some(found) if found.kind == LocalZoneKind::Transparent => {
                found.exact.is_some_and(|data| !data.records.is_empty())
            }
            Some(_) => true,
        }
    }

    /// The closest enclosing zone apex of `wire` (lowercased), if any.
    pub fn zone_of(&self, wire: &[u8]) -> Option<(&[u8], LocalZoneKind)> {
        self.find(wire).map(|found| (found.apex, found.kind))
    }

    pub fn heap_bytes(&self) -> usize {
        // hashbrown: one bucket (key + value) and one control byte per slot.
        let slots = self.nodes.capacity() * 8 / 7;
        let buckets = slots * (size_of::<Box<[u8]>>() + size_of::<Node>() + 1);
        let keys: usize = self.nodes.keys().map(|key| key.len()).sum();
        let data: usize = self.data.capacity() * size_of::<NameData>()
            + self
                .data
                .iter()
                .map(|d| d.records.capacity() * size_of::<Record>() + d.name.len())
                .sum::<usize>();
        buckets + keys + data
    }
}
