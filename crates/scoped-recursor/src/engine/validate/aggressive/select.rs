//! Which kept ranges could prove a name absent (or a type absent at it): only those are handed
//! to `prove_denial`, so its cost does not grow with the number of ranges kept.

use std::collections::BTreeMap;

use hickory_proto::rr::Name;
use scoped_dnssec::denial::nsec3_owner;
use tokio::time::Instant;

use super::Kept;

/// The names a denial of `name` in `zone` may need a record at or around: the name itself and
/// each ancestor down to the zone (closest encloser, next closer, empty non-terminal), and the
/// wildcard at each of those ancestors.
fn wanted(zone: &Name, name: &Name) -> Vec<Name> {
    let mut wanted = vec![name.clone()];
    let mut ancestor = name.clone();
    while ancestor != *zone && !ancestor.is_root() {
        ancestor = ancestor.base_name();
        if !zone.zone_of(&ancestor) {
            break;
        }
        wanted.push(ancestor.clone());
        if let Ok(wildcard) = ancestor.prepend_label("*") {
            wanted.push(wildcard);
        }
    }
    wanted
}

/// The live range at or before `target` in canonical order; with `wrap`, the last range when
/// none is before it (the last NSEC3 of a chain covers the hashes after it and before the first).
fn at_or_before<'a>(
    ranges: &'a BTreeMap<Name, Kept>,
    target: &Name,
    wrap: bool,
) -> Option<&'a Kept> {
    ranges
        .range(..=target)
        .next_back()
        .or_else(|| wrap.then(|| ranges.iter().next_back()).flatten())
        .map(|(_, kept)| kept)
}

fn push_live<'a>(found: &mut Vec<&'a Kept>, kept: Option<&'a Kept>, now: Instant) {
    if let Some(kept) = kept
        && now < kept.0
        && !found.iter().any(|f| std::ptr::eq(*f, kept))
    {
        found.push(kept);
    }
}

/// The NSEC ranges that could deny `name`: the one at or before it (its own NSEC, or the one
/// covering it) and the one at or before each wildcard and ancestor.
pub(super) fn nsec<'a>(
    ranges: &'a BTreeMap<Name, Kept>,
    zone: &Name,
    name: &Name,
    now: Instant,
) -> Vec<&'a Kept> {
    let mut found = Vec::new();
    for target in wanted(zone, name) {
        push_live(&mut found, at_or_before(ranges, &target, false), now);
    }
    found
}

/// The NSEC3 ranges that could deny `name`: for the hash of each wanted name (with the zone's
/// salt and iterations), the record at or before it — the one matching it, or the one whose
/// span covers it. Costs one hash per wanted name (the iteration count is at most the limit:
/// records above it are never kept).
pub(super) fn nsec3<'a>(
    ranges: &'a BTreeMap<Name, Kept>,
    params: &(Vec<u8>, u16),
    zone: &Name,
    name: &Name,
    now: Instant,
) -> Vec<&'a Kept> {
    let (salt, iterations) = params;
    let mut found = Vec::new();
    for target in wanted(zone, name) {
        let Some(owner) = nsec3_owner(&target, zone, salt, *iterations) else {
            continue;
        };
        push_live(&mut found, at_or_before(ranges, &owner, true), now);
    }
    found
}
