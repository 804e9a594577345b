//! The DNSSEC status kept with each cached entry.

/// What DNSSEC validation said about a cached RRset or negative entry (one byte per entry).
///
/// Data is stored [`Unchecked`](Validation::Unchecked) when it was not validated: validation
/// is off, it is infrastructure (glue, referrals, nameserver addresses), or it was fetched for a
/// client that set CD. A validating resolver never answers a client without CD from unchecked
/// data: it resolves (and validates) again. Bogus data is never stored as validated: the
/// resolver keeps the verdict apart, briefly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Validation {
    /// Not validated.
    #[default]
    Unchecked,
    /// Proven by a chain of trust from an anchor.
    Secure,
    /// Provably unsigned (or a negative trust anchor, or only unsupported algorithms).
    Insecure,
    /// No trust anchor covers the name.
    Indeterminate,
}

impl Validation {
    /// The status of an answer made of parts with these statuses: unchecked if any part is,
    /// else insecure (or indeterminate) if any part is, else secure.
    pub fn combine(self, other: Validation) -> Validation {
        use Validation::*;
        match (self, other) {
            (Unchecked, _) | (_, Unchecked) => Unchecked,
            (Insecure, _) | (_, Insecure) => Insecure,
            (Indeterminate, _) | (_, Indeterminate) => Indeterminate,
            (Secure, Secure) => Secure,
        }
    }
}
