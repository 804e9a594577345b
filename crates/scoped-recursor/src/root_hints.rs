//! Root hints: the compiled-in IANA root servers, and a reader for a named.root-style file
//! (the `root-hints` configuration key) so tests and labs can run their own root.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::{LexerError, ParseError, Parser};

/// One root server address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootHint {
    /// The server's name (e.g. `a.root-servers.net.`).
    pub name: Name,
    /// One of its addresses.
    pub addr: IpAddr,
}

/// The IANA root servers (root-servers.org, as of 2026). Priming replaces them with the live
/// NS set at the first query that needs the root.
const IANA_ROOT_SERVERS: &[(&str, &str, &str)] = &[
    ("a", "198.41.0.4", "2001:503:ba3e::2:30"),
    ("b", "170.247.170.2", "2801:1b8:10::b"),
    ("c", "192.33.4.12", "2001:500:2::c"),
    ("d", "199.7.91.13", "2001:500:2d::d"),
    ("e", "192.203.230.10", "2001:500:a8::e"),
    ("f", "192.5.5.241", "2001:500:2f::f"),
    ("g", "192.112.36.4", "2001:500:12::d0d"),
    ("h", "198.97.190.53", "2001:500:1::53"),
    ("i", "192.36.148.17", "2001:7fe::53"),
    ("j", "192.58.128.30", "2001:503:c27::2:30"),
    ("k", "193.0.14.129", "2001:7fd::1"),
    ("l", "199.7.83.42", "2001:500:9f::42"),
    ("m", "202.12.27.33", "2001:dc3::35"),
];

/// The compiled-in root hints.
pub fn builtin_root_hints() -> Vec<RootHint> {
    let mut hints = Vec::with_capacity(IANA_ROOT_SERVERS.len() * 2);
    for (letter, v4, v6) in IANA_ROOT_SERVERS {
        let Ok(name) = Name::from_ascii(format!("{letter}.root-servers.net.")) else {
            continue;
        };
        for addr in [v4, v6] {
            if let Ok(addr) = IpAddr::from_str(addr) {
                hints.push(RootHint {
                    name: name.clone(),
                    addr,
                });
            }
        }
    }
    hints
}

/// A problem in a root hints file, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RootHintsError {
    /// 1-based line number (0 for problems with the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for RootHintsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "root hints: {}", self.problem),
            line => write!(f, "root hints line {line}: {}", self.problem),
        }
    }
}

/// Parse a root hints file in the format of IANA's `named.root`:
/// `.  3600000  NS  A.ROOT-SERVERS.NET.` and `A.ROOT-SERVERS.NET.  3600000  A  198.41.0.4`.
///
/// The file is read by hickory-proto's zone-file (RFC 1035 master file) parser with the root as
/// origin, so it reads what BIND and Unbound read: names without a trailing dot are relative to
/// the root (or to the last `$ORIGIN`), `@` is the origin, `$TTL` sets a default TTL, a line
/// starting with a blank continues the previous owner, `;` starts a comment. TTL and class are
/// optional (hints' TTLs are not used: priming replaces them); `$INCLUDE` is refused. Only NS
/// records of the root and A/AAAA records of class IN may appear.
///
/// Returns one hint per address of a server named in an NS record of the root; addresses of
/// other names are ignored.
pub fn parse_root_hints(text: &str) -> Result<Vec<RootHint>, RootHintsError> {
    let records = read_records(text).map_err(|whole| locate(text, whole))?;
    let mut ns_names: Vec<Name> = Vec::new();
    let mut addrs: Vec<(Name, IpAddr)> = Vec::new();
    for record in records {
        match record.data {
            RData::NS(ns) => ns_names.push(ns.0),
            RData::A(a) => addrs.push((record.name, IpAddr::V4(a.0))),
            RData::AAAA(aaaa) => addrs.push((record.name, IpAddr::V6(aaaa.0))),
            // `read_records` lets no other type through.
            _ => {}
        }
    }
    if ns_names.is_empty() {
        return Err(RootHintsError {
            line: 0,
            problem: "no NS records for the root".into(),
        });
    }
    let hints: Vec<RootHint> = addrs
        .into_iter()
        .filter(|(name, _)| ns_names.contains(name))
        .map(|(name, addr)| RootHint { name, addr })
        .collect();
    if hints.is_empty() {
        return Err(RootHintsError {
            line: 0,
            problem: "no addresses for the root's NS names".into(),
        });
    }
    Ok(hints)
}

/// Why a hints text was refused, before the line is known.
struct Problem {
    message: String,
    /// The text stops inside an entry (an open parenthesis or quote): wrong for a whole file,
    /// not for a prefix of one (see `locate`).
    unfinished: bool,
}

impl Problem {
    fn new(message: String) -> Self {
        Self {
            message,
            unfinished: false,
        }
    }
}

/// The records of a hints text, in hickory's (canonical name, type) order, each one checked: class
/// IN, and NS at the root, A or AAAA.
fn read_records(text: &str) -> Result<Vec<Record>, Problem> {
    // hickory would read an absolute $INCLUDE path from the disk; a hints file is one file.
    if text.lines().any(|line| line.starts_with("$INCLUDE")) {
        return Err(Problem::new(
            "$INCLUDE is not supported in a root hints file".into(),
        ));
    }
    // hickory requires a TTL somewhere; a default of 0 makes it optional, as it always was here.
    let input = format!("$TTL 0\n{text}");
    let (_, rrsets) = Parser::new(input, None, Some(Name::root()))
        .parse()
        .map_err(|e| Problem {
            unfinished: matches!(
                e,
                ParseError::Lexer(
                    LexerError::UnclosedList | LexerError::UnclosedQuotedString | LexerError::EOF
                )
            ),
            message: e.to_string(),
        })?;
    let mut records = Vec::new();
    for rrset in rrsets.into_values() {
        if let Some(rrsig) = rrset.rrsigs().first() {
            return Err(unsupported(rrsig.record_type()));
        }
        for record in rrset.records_without_rrsigs() {
            if record.dns_class != DNSClass::IN {
                return Err(Problem::new(format!(
                    "class {}: only class IN belongs here",
                    record.dns_class
                )));
            }
            match record.record_type() {
                RecordType::NS if !record.name.is_root() => {
                    return Err(Problem::new(format!(
                        "NS record for {}: only the root's NS belong here",
                        record.name
                    )));
                }
                RecordType::NS | RecordType::A | RecordType::AAAA => records.push(record.clone()),
                other => return Err(unsupported(other)),
            }
        }
    }
    Ok(records)
}

fn unsupported(rtype: RecordType) -> Problem {
    Problem::new(format!(
        "unsupported record type {rtype} (NS, A, AAAA only)"
    ))
}

/// Find the line at fault in a text `read_records` refused: the first line whose prefix of the
/// file is refused too (hickory's errors carry no line number). A prefix that merely stops
/// inside a multi-line entry is not refused unless the whole text was refused for that.
/// Binary search: a few parses of a file of a hundred lines, and only when it is wrong.
fn locate(text: &str, whole: Problem) -> RootHintsError {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut ends = Vec::with_capacity(lines.len());
    let mut end = 0;
    for line in &lines {
        end += line.len();
        ends.push(end);
    }
    let file_problem = |whole: Problem| RootHintsError {
        line: 0,
        problem: whole.message,
    };
    if lines.is_empty() {
        return file_problem(whole);
    }
    let refused = |count: usize| match read_records(&text[..ends[count - 1]]) {
        Err(problem) if !problem.unfinished || whole.unfinished => Some(problem),
        _ => None,
    };
    // The whole text (`hi` lines) is refused; look for the shortest refused prefix.
    let (mut lo, mut hi) = (1, lines.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if refused(mid).is_some() {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    match refused(lo) {
        Some(problem) => {
            let line = lines[lo - 1];
            let continued = if line.starts_with([' ', '\t']) {
                " (a line starting with a blank has the previous line's owner)"
            } else {
                ""
            };
            RootHintsError {
                line: lo,
                problem: format!("{:?}: {}{continued}", line.trim(), problem.message),
            }
        }
        // Not expected: every prefix that is refused stays refused when lines are added.
        None => file_problem(whole),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        IpAddr::from_str(text).unwrap()
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// (name, address) of every hint, as text, sorted.
    fn pairs(hints: &[RootHint]) -> Vec<(String, IpAddr)> {
        let mut pairs: Vec<(String, IpAddr)> = hints
            .iter()
            .map(|h| (h.name.to_lowercase().to_ascii(), h.addr))
            .collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn builtin_has_13_servers_in_both_families() {
        let hints = builtin_root_hints();
        assert_eq!(hints.len(), 26);
        assert_eq!(hints.iter().filter(|h| h.addr.is_ipv4()).count(), 13);
    }

    #[test]
    fn parses_named_root_format() {
        let text = "; comment\n.  3600000  NS  A.ROOT.TEST.\nA.ROOT.TEST. 3600000 IN A 127.53.0.1\n\
                    A.ROOT.TEST. AAAA ::1\nother.test. A 127.0.0.9\n";
        let hints = parse_root_hints(text).unwrap();
        assert_eq!(
            hints.len(),
            2,
            "addresses of names not in the NS set are ignored"
        );
        assert_eq!(hints[0].addr, ip("127.53.0.1"));
        assert_eq!(hints[1].addr, ip("::1"));
        assert_eq!(hints[0].name, name("a.root.test."));
    }

    #[test]
    fn named_root_as_iana_publishes_it() {
        let text = "\
;       This file holds the information on root name servers needed to
;       initialize cache of Internet domain name servers
;       (e.g. reference this file in the \"cache  .  <file>\"
;       configuration file of BIND domain name servers).
;
;       last update:     March 26, 2026
;       related version of root zone:     2026032601
;
; FORMERLY NS.INTERNIC.NET
;
.                        3600000      NS    A.ROOT-SERVERS.NET.
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
A.ROOT-SERVERS.NET.      3600000      AAAA  2001:503:ba3e::2:30
;
; FORMERLY NS1.ISI.EDU
;
.                        3600000      NS    B.ROOT-SERVERS.NET.
B.ROOT-SERVERS.NET.      3600000      A     170.247.170.2
B.ROOT-SERVERS.NET.      3600000      AAAA  2801:1b8:10::b
; End of file";
        let hints = parse_root_hints(text).unwrap();
        assert_eq!(
            pairs(&hints),
            vec![
                ("a.root-servers.net.".into(), ip("198.41.0.4")),
                ("a.root-servers.net.".into(), ip("2001:503:ba3e::2:30")),
                ("b.root-servers.net.".into(), ip("170.247.170.2")),
                ("b.root-servers.net.".into(), ip("2801:1b8:10::b")),
            ]
        );
    }

    #[test]
    fn relative_owner_names_are_read_relative_to_the_root() {
        let text = "\
.                        3600000      NS    A.ROOT-SERVERS.NET.
.                        3600000      NS    k.root-servers.net
A.ROOT-SERVERS.NET.      3600000      A     198.41.0.4
k.root-servers.net 3600000 A 193.0.14.129
";
        let hints = parse_root_hints(text).unwrap();
        assert_eq!(
            pairs(&hints),
            vec![
                ("a.root-servers.net.".into(), ip("198.41.0.4")),
                ("k.root-servers.net.".into(), ip("193.0.14.129")),
            ]
        );
        assert!(hints.iter().all(|h| h.name.is_fqdn()));
    }

    #[test]
    fn names_match_whatever_their_case() {
        let text = ". NS A.Root.Test.\na.root.test. A 127.53.0.1\nA.ROOT.TEST AAAA fd00::53\n";
        let hints = parse_root_hints(text).unwrap();
        assert_eq!(
            pairs(&hints),
            vec![
                ("a.root.test.".into(), ip("127.53.0.1")),
                ("a.root.test.".into(), ip("fd00::53")),
            ]
        );
    }

    #[test]
    fn origin_ttl_at_and_continuation_lines_are_understood() {
        let text = "\
$TTL 1d
@                NS  a.root.test.   ; the root, spelt @
$ORIGIN root.test.
a                A   127.53.0.1     ; a.root.test.
                 AAAA fd00::53      ; the same owner, continued
b 3600 IN        A   127.53.0.2     ; not in the NS set
";
        let hints = parse_root_hints(text).unwrap();
        assert_eq!(
            pairs(&hints),
            vec![
                ("a.root.test.".into(), ip("127.53.0.1")),
                ("a.root.test.".into(), ip("fd00::53")),
            ]
        );
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "\n; a comment\n\n   ; an indented comment\n. NS a.root.test. ; trailing\n\n\
                    a.root.test. A 127.53.0.1;no space before it\n\n";
        assert_eq!(
            pairs(&parse_root_hints(text).unwrap()),
            vec![("a.root.test.".into(), ip("127.53.0.1"))]
        );
    }

    #[test]
    fn ipv6_only_hints_are_read() {
        let text = ". NS a.root.test.\n. NS b.root.test.\n\
                    a.root.test. AAAA fd00::53\nb.root.test. AAAA 2001:db8::53\n";
        let hints = parse_root_hints(text).unwrap();
        assert!(hints.iter().all(|h| h.addr.is_ipv6()));
        assert_eq!(hints.len(), 2);
    }

    #[test]
    fn error_names_the_line_and_quotes_it() {
        let err = parse_root_hints(". NS a.root.test.\na.root.test. A 300.1.1.1\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.problem.contains("IPv4 address"), "{err}");
        assert!(
            err.to_string()
                .starts_with("root hints line 2: \"a.root.test. A 300.1.1.1\": "),
            "{err}"
        );
    }

    #[test]
    fn each_kind_of_bad_line_is_named() {
        for (text, line, words) in [
            (". NS a.\na. MX 10 b.", 2, "unsupported record type MX"),
            (". NS a.\n\na. FOO 1.2.3.4\n", 3, "FOO"),
            (". NS a.\nexample. NS b.\n", 2, "NS record for example."),
            (". NS a.\na. A ::1\n", 2, "IPv4 address"),
            (". NS a.\na. AAAA 127.0.0.1\n", 2, "IPv6 address"),
            (". NS a.\na. CH A 127.0.0.1\n", 2, "class CH"),
            (". NS a.\n$INCLUDE /etc/passwd\n", 2, "$INCLUDE"),
            (". NS a.\n$FOO bar\n", 2, "dollar"),
            (". NS a.\na. A\n", 2, "ipv4 address"),
            (". NS a..b.\n", 1, "a..b"),
            (". NS a.\na. A (127.0.0.1\n", 2, "unclosed"),
            (
                ". NS a.\n  a. A 127.0.0.1\n",
                2,
                "has the previous line's owner",
            ),
            // A parenthesised entry spanning lines is not mistaken for the bad one.
            (". NS (\n  a. )\na. A (\n 127.0.0.1 )\nb. TXT x\n", 5, "TXT"),
        ] {
            let err = parse_root_hints(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err}");
            assert!(err.problem.contains(words), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_file_without_ns_or_addresses_is_refused_as_a_whole() {
        let err = parse_root_hints("a.root.test. A 127.0.0.1\n").unwrap_err();
        assert_eq!(err.line, 0);
        assert_eq!(err.to_string(), "root hints: no NS records for the root");
        let err = parse_root_hints(". NS a.root.test.\nb.root.test. A 127.0.0.1\n").unwrap_err();
        assert_eq!(err.line, 0);
        assert!(err.problem.contains("no addresses"), "{err}");
        assert_eq!(parse_root_hints("").unwrap_err().line, 0);
    }
}
