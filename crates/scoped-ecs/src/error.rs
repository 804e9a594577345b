//! The one error type of the ECS codec and the raw message scan.

use crate::family::Family;
use crate::wire::NameError;

/// Why an ECS option, an OPT RDATA or a message around it is malformed.
///
/// Each variant is one rule, so a test (and a FORMERR counter, through [`EcsError::reason`]) can
/// say exactly which one fired. All of them mean FORMERR when they come from a client (E07).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcsError {
    /// The ECS payload is shorter than its fixed part (FAMILY, SOURCE, SCOPE: 4 octets).
    Truncated,
    /// FAMILY is neither 1 (IPv4) nor 2 (IPv6) (E07).
    UnknownFamily(u16),
    /// SOURCE PREFIX-LENGTH exceeds the address length of the family (E07).
    SourceTooLong {
        /// The option's family.
        family: Family,
        /// The SOURCE PREFIX-LENGTH it carried.
        source: u8,
    },
    /// SCOPE PREFIX-LENGTH exceeds the address length of the family.
    ScopeTooLong {
        /// The option's family.
        family: Family,
        /// The SCOPE PREFIX-LENGTH it carried.
        scope: u8,
    },
    /// SCOPE PREFIX-LENGTH is not 0 in a query (E04, E07, RFC 7871 §6).
    NonZeroScopeInQuery(u8),
    /// The option length is not 4 + ceil(SOURCE/8): too few or too many ADDRESS octets (E07).
    BadLength {
        /// 4 + ceil(SOURCE/8).
        expected: u16,
        /// The payload length seen.
        got: u16,
    },
    /// An ADDRESS bit past SOURCE PREFIX-LENGTH is set (E02, E07).
    HostBitsSet,
    /// The OPT RDATA holds more than one ECS option.
    Duplicate,
    /// An option in the OPT RDATA claims more octets than the RDATA has left.
    OptionOverrun,
    /// The message ends before its header, a name, a record or an RDATA does.
    MessageTruncated,
    /// A name uses a reserved label type (0b01 or 0b10 in the top bits of a length octet).
    BadLabel,
    /// A compression pointer points into the header, or not strictly before the name holding it.
    BadPointer,
    /// A name is longer than 255 octets.
    NameTooLong,
    /// The OPT record's owner name is not the root (RFC 6891 §6.1.2).
    OptOwnerNotRoot,
    /// The message has more than one OPT record (RFC 6891 §6.1.1).
    DuplicateOpt,
}

// Hand-written rather than derived: thiserror would take the `source` field for an error source.
impl std::fmt::Display for EcsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Truncated => f.write_str("ECS option shorter than 4 octets"),
            Self::UnknownFamily(family) => {
                write!(f, "ECS family {family} is not 1 (IPv4) or 2 (IPv6)")
            }
            Self::SourceTooLong { family, source } => write!(
                f,
                "ECS source prefix length {source} is longer than {} for {family}",
                family.max_len()
            ),
            Self::ScopeTooLong { family, scope } => write!(
                f,
                "ECS scope prefix length {scope} is longer than {} for {family}",
                family.max_len()
            ),
            Self::NonZeroScopeInQuery(scope) => {
                write!(f, "ECS scope prefix length {scope} in a query (must be 0)")
            }
            Self::BadLength { expected, got } => write!(
                f,
                "ECS option length {got}, expected {expected} for its source prefix length"
            ),
            Self::HostBitsSet => {
                f.write_str("ECS address has bits set past the source prefix length")
            }
            Self::Duplicate => f.write_str("more than one ECS option"),
            Self::OptionOverrun => f.write_str("EDNS option runs past the end of the OPT record"),
            Self::MessageTruncated => f.write_str("message truncated"),
            Self::BadLabel => f.write_str("name uses a reserved label type"),
            Self::BadPointer => f.write_str("name compression pointer does not point backwards"),
            Self::NameTooLong => f.write_str("name longer than 255 octets"),
            Self::OptOwnerNotRoot => f.write_str("OPT record owner is not the root"),
            Self::DuplicateOpt => f.write_str("more than one OPT record"),
        }
    }
}

impl std::error::Error for EcsError {}

impl From<NameError> for EcsError {
    fn from(error: NameError) -> Self {
        match error {
            NameError::Truncated => Self::MessageTruncated,
            NameError::BadLabel => Self::BadLabel,
            NameError::BadPointer => Self::BadPointer,
            NameError::TooLong => Self::NameTooLong,
        }
    }
}

impl EcsError {
    /// A short, stable, snake_case name for metrics labels and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Truncated => "ecs_truncated",
            Self::UnknownFamily(_) => "ecs_unknown_family",
            Self::SourceTooLong { .. } => "ecs_source_too_long",
            Self::ScopeTooLong { .. } => "ecs_scope_too_long",
            Self::NonZeroScopeInQuery(_) => "ecs_nonzero_scope_in_query",
            Self::BadLength { .. } => "ecs_bad_length",
            Self::HostBitsSet => "ecs_host_bits_set",
            Self::Duplicate => "ecs_duplicate",
            Self::OptionOverrun => "opt_option_overrun",
            Self::MessageTruncated => "message_truncated",
            Self::BadLabel => "name_bad_label",
            Self::BadPointer => "name_bad_pointer",
            Self::NameTooLong => "name_too_long",
            Self::OptOwnerNotRoot => "opt_owner_not_root",
            Self::DuplicateOpt => "opt_duplicate",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct() {
        let all = [
            EcsError::Truncated,
            EcsError::UnknownFamily(3),
            EcsError::SourceTooLong {
                family: Family::V4,
                source: 33,
            },
            EcsError::ScopeTooLong {
                family: Family::V4,
                scope: 33,
            },
            EcsError::NonZeroScopeInQuery(1),
            EcsError::BadLength {
                expected: 7,
                got: 8,
            },
            EcsError::HostBitsSet,
            EcsError::Duplicate,
            EcsError::OptionOverrun,
            EcsError::MessageTruncated,
            EcsError::BadLabel,
            EcsError::BadPointer,
            EcsError::NameTooLong,
            EcsError::OptOwnerNotRoot,
            EcsError::DuplicateOpt,
        ];
        let mut reasons: Vec<_> = all.iter().map(EcsError::reason).collect();
        reasons.sort_unstable();
        reasons.dedup();
        assert_eq!(reasons.len(), all.len());
    }

    #[test]
    fn display_names_the_limit() {
        let e = EcsError::SourceTooLong {
            family: Family::V4,
            source: 33,
        };
        assert_eq!(
            e.to_string(),
            "ECS source prefix length 33 is longer than 32 for IPv4"
        );
    }
}
