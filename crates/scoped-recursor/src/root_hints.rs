//! Root hints: the compiled-in IANA root servers, and a parser for a named.root-style file
//! (the `root-hints` configuration key) so tests and labs can run their own root.

use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::rr::Name;

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
#[error("root hints line {line}: {problem}")]
pub struct RootHintsError {
    /// 1-based line number (0 for problems with the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

/// Parse a root hints file in the format of IANA's `named.root`:
/// `.  3600000  NS  A.ROOT-SERVERS.NET.` and `A.ROOT-SERVERS.NET.  3600000  A  198.41.0.4`
/// (TTL and class optional, `;` comments). Returns one hint per address of a server named in an
/// NS line of the root.
pub fn parse_root_hints(text: &str) -> Result<Vec<RootHint>, RootHintsError> {
    let mut ns_names = Vec::new();
    let mut addrs: Vec<(Name, IpAddr, usize)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |problem: String| RootHintsError { line, problem };
        let content = raw.split(';').next().unwrap_or("");
        let mut tokens: Vec<&str> = content.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        let owner =
            Name::from_ascii(tokens.remove(0)).map_err(|e| err(format!("bad owner name: {e}")))?;
        if !owner.is_fqdn() {
            return Err(err(format!("owner {owner} must end with a dot")));
        }
        // Optional TTL and class, in either order.
        while let Some(t) = tokens.first() {
            if t.chars().all(|c| c.is_ascii_digit()) || t.eq_ignore_ascii_case("IN") {
                tokens.remove(0);
            } else {
                break;
            }
        }
        let [rtype, rdata] = tokens[..] else {
            return Err(err(format!(
                "expected TYPE and RDATA, got {:?}",
                tokens.join(" ")
            )));
        };
        match rtype.to_ascii_uppercase().as_str() {
            "NS" => {
                if !owner.is_root() {
                    return Err(err(format!(
                        "NS record for {owner}: only the root's NS belong here"
                    )));
                }
                let target = Name::from_ascii(rdata)
                    .map_err(|e| err(format!("bad NS name {rdata:?}: {e}")))?;
                ns_names.push(target);
            }
            "A" | "AAAA" => {
                let addr = IpAddr::from_str(rdata)
                    .map_err(|_| err(format!("{rdata:?} is not an IP address")))?;
                if (rtype.eq_ignore_ascii_case("A")) != addr.is_ipv4() {
                    return Err(err(format!("{rdata} does not fit record type {rtype}")));
                }
                addrs.push((owner, addr, line));
            }
            other => {
                return Err(err(format!(
                    "unsupported record type {other} (NS, A, AAAA only)"
                )));
            }
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
        .filter(|(name, _, _)| ns_names.contains(name))
        .map(|(name, addr, _)| RootHint { name, addr })
        .collect();
    if hints.is_empty() {
        return Err(RootHintsError {
            line: 0,
            problem: "no addresses for the root's NS names".into(),
        });
    }
    Ok(hints)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(hints[0].addr, IpAddr::from_str("127.53.0.1").unwrap());
    }

    #[test]
    fn error_names_the_line() {
        let err = parse_root_hints(". NS a.root.test.\na.root.test. A 300.1.1.1\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.problem.contains("not an IP address"), "{err}");
    }

    #[test]
    fn rejects_relative_owner_and_unknown_type() {
        assert_eq!(
            parse_root_hints("a.root.test A 127.0.0.1")
                .unwrap_err()
                .line,
            1
        );
        let err = parse_root_hints(". NS a.\na. MX 10 b.").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn rejects_file_without_ns() {
        assert_eq!(
            parse_root_hints("a.root.test. A 127.0.0.1\n")
                .unwrap_err()
                .line,
            0
        );
    }
}
