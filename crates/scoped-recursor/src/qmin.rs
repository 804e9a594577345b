//! QNAME minimisation (RFC 9156): which name to ask a zone's servers next ([`next_name`]), and
//! what the answer to a minimised question means for the walk ([`after`]). Pure: the engine's
//! `query_name` drives it.
//!
//! From the deepest zone cut known for a name, each step asks for one more label (QTYPE A, RFC
//! 9156 §3) until the full name is reached; only that last query is the client's own question
//! (the only one that may carry ECS, E16). Very long names are not walked a label at a time:
//! after [`MINIMISE_ONE_LAB`] single-label steps the remaining labels are spread over the steps
//! left of [`MAX_MINIMISE_COUNT`] (RFC 9156 §2.3).

use hickory_proto::rr::Name;
use scoped_ecs::names::{ancestor, is_within};

/// How many minimised queries one name may cost at most (RFC 9156 §2.3 suggests 10).
pub const MAX_MINIMISE_COUNT: u32 = 10;

/// How many of them add a single label (RFC 9156 §2.3 suggests 4).
pub const MINIMISE_ONE_LAB: u32 = 4;

/// QNAME minimisation, as configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QminMode {
    /// Ask every server the full name (RFC 1034 behaviour).
    Off,
    /// Minimise, and fall back to the full name when a server mishandles a minimised question:
    /// NXDOMAIN for what is only an empty non-terminal, an error, no usable answer (RFC 9156 §3).
    #[default]
    Relaxed,
    /// Minimise and believe the answers: NXDOMAIN for an ancestor means the name does not exist
    /// (RFC 8020); errors are errors.
    Strict,
}

/// The name to ask next, when the deepest name known to exist on the way to `full` (a zone cut,
/// or a name that answered a minimised question) is `known`, after `steps` minimised queries.
/// Returns `None` when it is time to ask `full` itself.
pub fn next_name(full: &Name, known: &Name, steps: u32) -> Option<Name> {
    let have = is_within(full, known).then(|| known.iter().len());
    next_labels(full.iter().len(), have, steps).map(|labels| ancestor(full, labels))
}

/// [`next_name`] in label counts: how many of the `total` labels of the full name to ask for
/// next, when the deepest ancestor known to exist has `known` labels (`None`: what is known is
/// not an ancestor of the name). `None` when it is time to ask the full name.
pub fn next_labels(total: usize, known: Option<usize>, steps: u32) -> Option<usize> {
    let have = known?;
    if have >= total || steps >= MAX_MINIMISE_COUNT {
        return None;
    }
    let missing = (total - have) as u32;
    let add = if steps < MINIMISE_ONE_LAB {
        1
    } else {
        // Spread what is left over the steps left, so the last allowed step reaches the name.
        missing.div_ceil(MAX_MINIMISE_COUNT - steps)
    };
    // `full` minus its first (missing - add) labels, unless that is `full` itself.
    (add < missing).then(|| have + add as usize)
}

/// What the servers said to a minimised question, as far as the walk is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// A referral: a zone is cut at or above the asked name.
    Referral,
    /// An answer or NODATA without a CNAME: the name exists inside the zone, no cut there.
    Exists,
    /// A CNAME at the asked name (followed inside the response or not).
    Alias,
    /// NXDOMAIN for the asked name.
    NxDomain,
    /// No server gave a usable response (errors, timeouts, lame answers).
    Failed,
}

/// What to do next after a minimised question (RFC 9156 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Go on from the child zone of the referral.
    Descend,
    /// Add labels under the asked name and ask the same servers again.
    Deeper,
    /// Stop minimising: ask these servers the full name (relaxed fallbacks, and an alias, whose
    /// answer for the full name only its own zone can give).
    FullName,
    /// The full name does not exist either (RFC 8020): the resolution ends with NXDOMAIN.
    NxDomain,
    /// The failure stands: the resolution fails.
    Fail,
}

/// The next move after a minimised question got `heard`. Relaxed mode distrusts an NXDOMAIN for
/// an intermediate name (some servers answer it for empty non-terminals) and gets around
/// errors by asking the full name; strict mode believes the NXDOMAIN and keeps the error.
pub fn after(mode: QminMode, heard: Heard) -> Next {
    match (heard, mode) {
        (Heard::Referral, _) => Next::Descend,
        (Heard::Exists, _) => Next::Deeper,
        (Heard::Alias, _) => Next::FullName,
        (Heard::NxDomain, QminMode::Strict) => Next::NxDomain,
        (Heard::Failed, QminMode::Strict) => Next::Fail,
        (Heard::NxDomain | Heard::Failed, QminMode::Relaxed | QminMode::Off) => Next::FullName,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    #[test]
    fn one_label_at_a_time_from_the_known_cut() {
        let full = name("a.b.c.example.com.");
        assert_eq!(next_name(&full, &Name::root(), 0), Some(name("com.")));
        assert_eq!(
            next_name(&full, &name("com."), 1),
            Some(name("example.com."))
        );
        assert_eq!(
            next_name(&full, &name("example.com."), 2),
            Some(name("c.example.com."))
        );
        assert_eq!(next_name(&full, &name("b.c.example.com."), 3), None);
    }

    #[test]
    fn the_full_name_when_nothing_is_missing_or_known_is_not_above_it() {
        let full = name("www.example.com.");
        assert_eq!(next_name(&full, &full, 0), None);
        assert_eq!(next_name(&full, &name("example.net."), 0), None);
    }

    #[test]
    fn long_names_take_at_most_max_minimise_count_steps() {
        let labels: Vec<String> = (0..40).map(|i| format!("l{i}")).collect();
        let full = name(&format!("{}.example.", labels.join(".")));
        let mut known = Name::root();
        let mut steps = 0;
        let mut sizes = Vec::new();
        while known != full {
            let next = next_name(&full, &known, steps).unwrap_or_else(|| full.clone());
            sizes.push(next.num_labels() - known.num_labels());
            known = next;
            steps += 1;
        }
        assert!(steps <= MAX_MINIMISE_COUNT, "{steps} steps");
        assert_eq!(&sizes[..4], &[1, 1, 1, 1], "one label at a time first");
        assert!(sizes[4..].iter().all(|&s| s > 1), "{sizes:?}");
    }

    #[test]
    fn referrals_descend_and_existing_names_go_deeper_in_every_mode() {
        for mode in [QminMode::Relaxed, QminMode::Strict] {
            assert_eq!(after(mode, Heard::Referral), Next::Descend);
            assert_eq!(after(mode, Heard::Exists), Next::Deeper);
        }
    }

    #[test]
    fn an_alias_on_the_way_sends_the_full_name_in_every_mode() {
        for mode in [QminMode::Relaxed, QminMode::Strict] {
            assert_eq!(after(mode, Heard::Alias), Next::FullName);
        }
    }

    #[test]
    fn relaxed_falls_back_to_the_full_name_after_nxdomain_or_failure() {
        assert_eq!(after(QminMode::Relaxed, Heard::NxDomain), Next::FullName);
        assert_eq!(after(QminMode::Relaxed, Heard::Failed), Next::FullName);
    }

    #[test]
    fn strict_believes_nxdomain_and_keeps_failures() {
        assert_eq!(after(QminMode::Strict, Heard::NxDomain), Next::NxDomain);
        assert_eq!(after(QminMode::Strict, Heard::Failed), Next::Fail);
    }

    #[test]
    fn past_the_step_limit_the_full_name_is_asked() {
        let full = name("a.b.c.d.e.f.example.");
        assert_eq!(next_name(&full, &Name::root(), MAX_MINIMISE_COUNT), None);
    }
}
