//! Domain-name comparisons for the hot paths, with the meaning of hickory's but a fraction of
//! the cost.
//!
//! hickory-proto's `Name == Name` orders the two names label by label from the root, folding
//! case byte by byte, even when their lengths already differ; `zone_of` walks both from the
//! root; `trim_to` rebuilds a name through `from_labels`, which validates and collects every
//! label into temporary vectors. A cache miss did each of these a dozen times, a tenth of its
//! instructions (callgrind, docs/benchmarks.md). These helpers compare lengths first and labels
//! as byte slices.

use hickory_proto::rr::Name;

/// Whether `a` and `b` are the same name, ASCII case ignored (RFC 4343): `a == b`.
pub fn same_name(a: &Name, b: &Name) -> bool {
    let (x, y) = (a.iter(), b.iter());
    a.is_fqdn() == b.is_fqdn()
        && a.len() == b.len()
        && x.len() == y.len()
        && x.zip(y).all(|(x, y)| same_label(x, y))
}

/// Whether `name` is `zone` or below it, ASCII case ignored: `zone.zone_of(name)`.
pub fn is_within(name: &Name, zone: &Name) -> bool {
    let (x, y) = (name.iter(), zone.iter());
    // From the root: only the zone's labels are looked at. A name shorter (in octets) than the
    // zone cannot be below it.
    y.len() <= x.len()
        && zone.len() <= name.len()
        && x.rev().zip(y.rev()).all(|(x, y)| same_label(x, y))
}

/// Two labels equal, ASCII case ignored. The octets are compared as they are first: the names
/// a resolver compares mostly come in one case (a reply's owner names point at its question),
/// and a plain comparison is one `memcmp`, where folding the case goes octet by octet.
#[inline]
fn same_label(x: &[u8], y: &[u8]) -> bool {
    x.len() == y.len() && (x == y || x.eq_ignore_ascii_case(y))
}

/// The ancestor of `name` with its last `labels` labels (`name` itself if it has no more):
/// `name.trim_to(labels)`.
pub fn ancestor(name: &Name, labels: usize) -> Name {
    let have = name.iter().len();
    if labels > have || labels == have && name.is_fqdn() {
        return name.clone();
    }
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name.iter().skip(have - labels) {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    // The labels come from a valid name, so their wire form decodes (fully qualified, as
    // `trim_to` makes it).
    <Name as hickory_proto::serialize::binary::BinDecodable>::from_bytes(&wire)
        .unwrap_or_else(|_| name.trim_to(labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("a name")
    }

    /// Every pair of these names, compared both ways, against hickory's own answer.
    const NAMES: [&str; 12] = [
        ".",
        "com.",
        "COM.",
        "example.com.",
        "Example.Com.",
        "www.example.com.",
        "a.b.example.com.",
        "xample.com.",
        "example.net.",
        "com.example.",
        "www.example.com",
        "*.example.com.",
    ];

    #[test]
    fn same_name_agrees_with_hickorys_equality() {
        for a in NAMES.map(name) {
            for b in NAMES.map(name) {
                assert_eq!(same_name(&a, &b), a == b, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn is_within_agrees_with_zone_of() {
        for a in NAMES.map(name) {
            for b in NAMES.map(name) {
                assert_eq!(is_within(&a, &b), b.zone_of(&a), "{a} within {b}");
            }
        }
    }

    #[test]
    fn ancestor_agrees_with_trim_to_and_keeps_case() {
        for a in NAMES.map(name) {
            for labels in 0..5 {
                let ours = ancestor(&a, labels);
                let theirs = a.trim_to(labels);
                assert!(ours.eq_case(&theirs), "{a} to {labels}: {ours} vs {theirs}");
                assert_eq!(ours.is_fqdn(), theirs.is_fqdn(), "{a} to {labels}");
            }
        }
        assert_eq!(
            ancestor(&name("WWW.Example.com."), 2).to_string(),
            "Example.com."
        );
    }
}
