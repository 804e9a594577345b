//! Counters declared once: name, help text and field in one place.
//!
//! A group of counters (the engine's [`EngineStats`](crate::EngineStats), the transport's
//! [`TransportCounters`](crate::transport::TransportCounters), the front end's `FrontendStats`)
//! is written with [`counters!`](crate::counters!) as a list of `field: "help"` lines. The macro
//! makes the struct of `AtomicU64` fields that the hot path bumps, and implements [`Counters`]
//! on it, which is all the control endpoint needs to export the group as JSON (`scoped ctl
//! stats`) and in the Prometheus format (`scoped ctl metrics`): no second list to keep in step.
//!
//! Every counter is monotonic and counted with `Relaxed` ordering: they are statistics, not
//! synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

/// One exported counter: its name (the field's, unique within its group) and one line of help
/// for operators (the Prometheus `# HELP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// The field's name (`cache_hits`).
    pub name: &'static str,
    /// One line for operators.
    pub help: &'static str,
}

/// A group of counters declared with [`counters!`](crate::counters!).
pub trait Counters {
    /// Every counter of the group, in declaration order.
    const COUNTERS: &'static [Counter];

    /// Calls `f` with every counter and its current value, in declaration order (each read
    /// atomically; the set is not one instant).
    fn visit(&self, f: impl FnMut(Counter, u64));
}

/// Counts one more of `counter`.
#[inline]
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Declares a group of counters: a struct of public `AtomicU64` fields (`Debug`, `Default`) and
/// its [`Counters`](crate::counters::Counters) implementation.
///
/// Each counter is `field: "help",`: the help is the field's documentation and the text
/// operators see. `///` lines above a counter add notes for the source reader only.
///
/// ```
/// scoped_recursor::counters! {
///     /// What a part has counted.
///     pub struct PartStats {
///         /// Bumped by `handle`.
///         requests: "Requests handled",
///         failures: "Requests that failed",
///     }
/// }
///
/// use scoped_recursor::counters::{Counters, bump};
/// let stats = PartStats::default();
/// bump(&stats.requests);
/// let mut seen = Vec::new();
/// stats.visit(|counter, value| seen.push((counter.name, value)));
/// assert_eq!(seen, [("requests", 1), ("failures", 0)]);
/// assert_eq!(PartStats::COUNTERS[1].help, "Requests that failed");
/// ```
#[macro_export]
macro_rules! counters {
    (
        $(#[$meta:meta])*
        $vis:vis struct $group:ident {
            $(
                $(#[doc = $note:literal])*
                $name:ident: $help:literal,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Default)]
        $vis struct $group {
            $(
                #[doc = $help]
                #[doc = ""]
                $(#[doc = $note])*
                pub $name: ::std::sync::atomic::AtomicU64,
            )*
        }

        impl $crate::counters::Counters for $group {
            const COUNTERS: &'static [$crate::counters::Counter] = &[
                $($crate::counters::Counter { name: stringify!($name), help: $help },)*
            ];

            fn visit(&self, mut f: impl FnMut($crate::counters::Counter, u64)) {
                $(
                    f(
                        $crate::counters::Counter { name: stringify!($name), help: $help },
                        self.$name.load(::std::sync::atomic::Ordering::Relaxed),
                    );
                )*
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::counters! {
        /// Two counters.
        struct Pair {
            /// A note.
            first: "The first",
            second: "The second",
        }
    }

    #[test]
    fn visit_walks_the_table_in_order_with_values() {
        let pair = Pair::default();
        bump(&pair.second);
        bump(&pair.second);
        let mut seen = Vec::new();
        pair.visit(|counter, value| seen.push((counter, value)));
        let table: Vec<Counter> = Pair::COUNTERS.to_vec();
        assert_eq!(
            seen,
            [(table[0], 0), (table[1], 2)],
            "visit and COUNTERS agree"
        );
        assert_eq!(
            table,
            [
                Counter {
                    name: "first",
                    help: "The first"
                },
                Counter {
                    name: "second",
                    help: "The second"
                }
            ]
        );
    }
}
