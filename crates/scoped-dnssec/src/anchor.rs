//! Trust anchors: where chains of trust start (RFC 4035 §4.4).
//!
//! - the built-in root KSKs (key tags 20326 and 38696, as shipped by hickory-proto);
//! - a trust-anchor file of DS or DNSKEY lines in zone-file format, as Unbound's
//!   `trust-anchor-file` reads (`. IN DS 20326 8 2 E06D…` or `. IN DNSKEY 257 3 8 AwEAAa…`);
//! - negative trust anchors (RFC 7646): names below which answers are treated as insecure.

use std::fmt;

use hickory_proto::dnssec::TrustAnchors as HickoryAnchors;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_proto::dnssec::{Algorithm, PublicKey, PublicKeyBuf};
use hickory_proto::rr::{DNSClass, Name, RData, Record};
use hickory_proto::serialize::txt::{LexerError, ParseError, Parser};

use crate::chain::Trust;
use crate::status::{Kind, Reason, Security};

/// The trust anchors of one zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The zone the anchors are for.
    pub zone: Name,
    /// DS anchors: a DNSKEY of the zone matching one is trusted.
    pub ds: Vec<DS>,
    /// DNSKEY anchors: a DNSKEY of the zone with the same algorithm and key is trusted.
    pub keys: Vec<DNSKEY>,
}

impl Anchor {
    /// The anchor as the [`Trust`] to validate the zone's DNSKEY RRset from.
    pub fn trust(&self) -> Trust<'_> {
        Trust {
            ds: &self.ds,
            keys: &self.keys,
        }
    }
}

/// The configured trust anchors and negative trust anchors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustAnchors {
    anchors: Vec<Anchor>,
    negative: Vec<Name>,
}

impl Default for TrustAnchors {
    fn default() -> Self {
        Self::builtin()
    }
}

impl TrustAnchors {
    /// The root's KSKs 20326 (2017) and 38696 (2024), from hickory-proto, as DNSKEY anchors
    /// with flags 257 (zone key, secure entry point).
    pub fn builtin() -> Self {
        let root = HickoryAnchors::default();
        let keys = (0..root.len())
            .filter_map(|i| root.get(i))
            .map(|key| {
                let buf = PublicKeyBuf::new(key.public_bytes().to_vec(), key.algorithm());
                DNSKEY::new(true, true, false, buf)
            })
            .collect();
        Self {
            anchors: vec![Anchor {
                zone: Name::root(),
                ds: Vec::new(),
                keys,
            }],
            negative: Vec::new(),
        }
    }

    /// No anchors at all (every name is indeterminate until some are added).
    pub fn empty() -> Self {
        Self {
            anchors: Vec::new(),
            negative: Vec::new(),
        }
    }

    /// Anchors read from the text of a trust-anchor file: DS and DNSKEY records of class IN in
    /// zone-file format (hickory-proto's RFC 1035 parser, origin the root; `$ORIGIN`, `$TTL`,
    /// parentheses and `;` comments work; the TTL is optional; `$INCLUDE` is refused). Any
    /// other record type is an error; the error names the line.
    pub fn from_text(text: &str) -> Result<Self, AnchorError> {
        let (text, keys) = take_dnskeys(text)?;
        let records = read_records(&text).map_err(|whole| locate(&text, whole))?;
        let mut anchors = Self::empty();
        for record in records {
            match record.data {
                RData::DNSSEC(DNSSECRData::DS(ds)) => anchors.entry(&record.name).ds.push(ds),
                RData::TXT(txt) => {
                    let key = placeholder_index(&txt.txt_data).and_then(|i| keys.get(i));
                    if let Some(key) = key {
                        anchors.entry(&record.name).keys.push(key.clone());
                    }
                }
                // `read_records` lets no other type through.
                _ => {}
            }
        }
        if anchors.anchors.is_empty() {
            return Err(AnchorError {
                line: 0,
                problem: "no DS or DNSKEY records".into(),
            });
        }
        Ok(anchors)
    }

    fn entry(&mut self, zone: &Name) -> &mut Anchor {
        let at = match self.anchors.iter().position(|a| &a.zone == zone) {
            Some(at) => at,
            None => {
                self.anchors.push(Anchor {
                    zone: zone.clone(),
                    ds: Vec::new(),
                    keys: Vec::new(),
                });
                self.anchors.len() - 1
            }
        };
        &mut self.anchors[at]
    }

    /// Add a DS anchor for `zone`.
    pub fn add_ds(&mut self, zone: &Name, ds: DS) {
        self.entry(zone).ds.push(ds);
    }

    /// Add a DNSKEY anchor for `zone`.
    pub fn add_key(&mut self, zone: &Name, key: DNSKEY) {
        self.entry(zone).keys.push(key);
    }

    /// Add a negative trust anchor: `name` and everything below it is treated as insecure.
    pub fn add_negative(&mut self, name: Name) {
        if !self.negative.contains(&name) {
            self.negative.push(name);
        }
    }

    /// The anchors, one entry per zone.
    pub fn anchors(&self) -> &[Anchor] {
        &self.anchors
    }

    /// The deepest anchor at or above `name`: where its chain of trust starts. `None`: no
    /// anchor covers the name (its status is indeterminate).
    pub fn closest(&self, name: &Name) -> Option<&Anchor> {
        self.anchors
            .iter()
            .filter(|a| a.zone.zone_of(name))
            .max_by_key(|a| a.zone.num_labels())
    }

    /// What the anchors alone say about `name`, before any record is fetched: insecure under a
    /// negative trust anchor, indeterminate when no anchor covers it, `None` when it must be
    /// validated from [`closest`](Self::closest).
    pub fn presumed(&self, name: &Name) -> Option<Security> {
        if let Some(negative) = self.negative_covering(name) {
            return Some(Security::Insecure(Reason::new(
                Kind::NegativeTrustAnchor,
                negative,
            )));
        }
        if self.closest(name).is_none() {
            return Some(Security::Indeterminate);
        }
        None
    }

    /// The negative trust anchor at or above `name`, if any.
    pub fn negative_covering(&self, name: &Name) -> Option<&Name> {
        self.negative.iter().find(|n| n.zone_of(name))
    }
}

/// A problem in a trust-anchor file, with the line it is on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AnchorError {
    /// 1-based line number (0 for problems with the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for AnchorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "trust anchor file: {}", self.problem),
            line => write!(f, "trust anchor file line {line}: {}", self.problem),
        }
    }
}

/// Why a text was refused, before the line is known.
struct Problem {
    message: String,
    /// The text stops inside an entry (open parenthesis or quote): wrong for a whole file, not
    /// for a prefix of one.
    unfinished: bool,
}

fn problem(message: String) -> Problem {
    Problem {
        message,
        unfinished: false,
    }
}

/// The DS and DNSKEY records of the text, each checked (class IN, supported shape).
fn read_records(text: &str) -> Result<Vec<Record>, Problem> {
    if text.lines().any(|l| l.trim_start().starts_with("$INCLUDE")) {
        return Err(problem(
            "$INCLUDE is not supported in a trust anchor file".into(),
        ));
    }
    // hickory wants a TTL somewhere; anchors' TTLs mean nothing, so default to 0.
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
            return Err(problem(format!(
                "unsupported record type {} (DS, DNSKEY only)",
                rrsig.record_type()
            )));
        }
        for record in rrset.records_without_rrsigs() {
            check(record)?;
            records.push(record.clone());
        }
    }
    Ok(records)
}

fn check(record: &Record) -> Result<(), Problem> {
    if record.dns_class != DNSClass::IN {
        return Err(problem(format!(
            "class {}: only class IN belongs here",
            record.dns_class
        )));
    }
    match &record.data {
        RData::DNSSEC(DNSSECRData::DS(_)) => Ok(()),
        RData::TXT(txt) if placeholder_index(&txt.txt_data).is_some() => Ok(()),
        other => Err(problem(format!(
            "unsupported record type {} (DS, DNSKEY only)",
            other.record_type()
        ))),
    }
}

/// The text of the TXT record standing in for the `n`th DNSKEY entry (see [`take_dnskeys`]).
const PLACEHOLDER: &str = "scoped-dnssec-trust-anchor-dnskey-";

fn placeholder_index(data: &[Box<[u8]>]) -> Option<usize> {
    let [only] = data else {
        return None;
    };
    std::str::from_utf8(only)
        .ok()?
        .strip_prefix(PLACEHOLDER)?
        .parse()
        .ok()
}

/// hickory's zone-file parser refuses DNSKEY records ("should be dynamically generated"), so
/// DNSKEY entries are read here: each is replaced by a TXT placeholder on the same line (the
/// owner, TTL and class before it stay, so `@`, relative names, `$ORIGIN` and blank-owner lines
/// resolve as for any record), the lines of a parenthesised continuation are emptied so line
/// numbers still match, and the key is parsed from its presentation format (RFC 4034 §2.2:
/// flags, protocol 3, algorithm number, base64 key).
fn take_dnskeys(text: &str) -> Result<(String, Vec<DNSKEY>), AnchorError> {
    let mut out = String::with_capacity(text.len());
    let mut keys = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let content = line.split(';').next().unwrap_or_default();
        let Some(at) = token_offset(content, "DNSKEY") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let failure = |problem: String| AnchorError {
            line: index + 1,
            problem,
        };
        let mut rdata = content[at + "DNSKEY".len()..].to_owned();
        let mut continued = 0;
        if rdata.contains('(') {
            while !rdata.contains(')') {
                let (_, next) = lines
                    .next()
                    .ok_or_else(|| failure("unclosed parenthesis".into()))?;
                rdata.push(' ');
                rdata.push_str(next.split(';').next().unwrap_or_default());
                continued += 1;
            }
        }
        let key = parse_dnskey(&rdata.replace(['(', ')'], " ")).map_err(failure)?;
        out.push_str(&content[..at]);
        out.push_str(&format!("TXT \"{PLACEHOLDER}{}\"\n", keys.len()));
        out.push_str(&"\n".repeat(continued));
        keys.push(key);
    }
    Ok((out, keys))
}

/// The byte offset of `token` (ASCII case-insensitive) as a whole whitespace-separated token.
fn token_offset(content: &str, token: &str) -> Option<usize> {
    let mut offset = 0;
    for part in content.split_whitespace() {
        let at = offset + content[offset..].find(part)?;
        if part.eq_ignore_ascii_case(token) {
            return Some(at);
        }
        offset = at + part.len();
    }
    None
}

/// DNSKEY RDATA in presentation format: flags, protocol (3), algorithm number, base64 key.
fn parse_dnskey(rdata: &str) -> Result<DNSKEY, String> {
    let mut tokens = rdata.split_whitespace();
    let mut field = |what: &str| tokens.next().ok_or(format!("DNSKEY without {what}"));
    let flags: u16 = field("flags")?
        .parse()
        .map_err(|e| format!("DNSKEY flags: {e}"))?;
    let protocol = field("protocol")?;
    if protocol != "3" {
        return Err(format!("DNSKEY protocol {protocol}: must be 3"));
    }
    let algorithm: u8 = field("algorithm")?
        .parse()
        .map_err(|e| format!("DNSKEY algorithm (a number): {e}"))?;
    let encoded: String = tokens.collect();
    if encoded.is_empty() {
        return Err("DNSKEY without a public key".into());
    }
    let key = data_encoding::BASE64
        .decode(encoded.as_bytes())
        .map_err(|e| format!("DNSKEY public key (base64): {e}"))?;
    let key = DNSKEY::with_flags(flags, PublicKeyBuf::new(key, Algorithm::from_u8(algorithm)));
    if !key.zone_key() {
        return Err("DNSKEY without the zone flag (256) cannot anchor a zone".into());
    }
    Ok(key)
}

/// Find the line at fault in a text `read_records` refused: the first line whose prefix of the
/// file is refused too (hickory's errors carry no line number). A prefix that stops inside a
/// multi-line entry is not refused unless the whole text was refused for that. Binary search:
/// a few parses, and only for a file that is wrong.
fn locate(text: &str, whole: Problem) -> AnchorError {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut ends = Vec::with_capacity(lines.len());
    let mut end = 0;
    for line in &lines {
        end += line.len();
        ends.push(end);
    }
    let refused = |n: usize| match read_records(&text[..ends[n - 1]]) {
        Ok(_) => false,
        Err(p) => !p.unfinished || whole.unfinished,
    };
    let (mut low, mut high) = (1, lines.len());
    if high == 0 || !refused(high) {
        return AnchorError {
            line: 0,
            problem: whole.message,
        };
    }
    while low < high {
        let mid = (low + high) / 2;
        if refused(mid) {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    AnchorError {
        line: high,
        problem: whole.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_root_keys_are_20326_and_38696() {
        let anchors = TrustAnchors::builtin();
        let root = anchors.closest(&Name::from_ascii("www.example.").unwrap());
        let root = root.expect("the root anchors every name");
        assert!(root.zone.is_root());
        let mut tags: Vec<u16> = root
            .keys
            .iter()
            .map(|k| k.calculate_key_tag().unwrap())
            .collect();
        tags.sort_unstable();
        assert_eq!(tags, [20326, 38696]);
        assert!(root.keys.iter().all(|k| k.secure_entry_point()));
    }

    #[test]
    fn root_ds_file_parses() {
        let text = "; the root KSK-2017\n\
                    . IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
        let anchors = TrustAnchors::from_text(text).unwrap();
        let root = &anchors.anchors()[0];
        assert!(root.zone.is_root());
        assert_eq!(root.ds[0].key_tag(), 20326);
        // The DS above is the real one for the built-in KSK-2017.
        let builtin = TrustAnchors::builtin();
        let key = builtin.anchors()[0]
            .keys
            .iter()
            .find(|k| k.calculate_key_tag().unwrap() == 20326)
            .unwrap();
        assert!(root.ds[0].covers(&Name::root(), key).unwrap());
    }

    #[test]
    fn errors_name_the_line() {
        let text = ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
                    ; comment\n\
                    example. IN A 192.0.2.1\n";
        let err = TrustAnchors::from_text(text).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.problem.contains("DS, DNSKEY only"), "{err}");

        let bad = "example. IN DS 1 8 2 E06D\nexample. IN DS twelve 8 2 00\n";
        let err = TrustAnchors::from_text(bad).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert_eq!(TrustAnchors::from_text("; nothing\n").unwrap_err().line, 0);
    }

    #[test]
    fn dnskey_entries_keep_owner_and_line_numbers() {
        let builtin = TrustAnchors::builtin();
        let key = &builtin.anchors()[0].keys[0];
        let text = format!(
            "$ORIGIN example.\n@ 3600 IN DNSKEY ( 257 3 8\n  {} ) ; KSK\nsub IN DNSKEY {}\n",
            data_encoding::BASE64.encode(key.public_key().public_bytes()),
            key
        );
        let anchors = TrustAnchors::from_text(&text).unwrap();
        let example = anchors
            .closest(&Name::from_ascii("www.example.").unwrap())
            .unwrap();
        assert_eq!(example.zone, Name::from_ascii("example.").unwrap());
        assert_eq!(&example.keys[0], key);
        let sub = anchors
            .closest(&Name::from_ascii("a.sub.example.").unwrap())
            .unwrap();
        assert_eq!(sub.zone, Name::from_ascii("sub.example.").unwrap());

        let bad = format!("{text}example. IN DNSKEY 256 2 8 AwEAAQ==\n");
        let err = TrustAnchors::from_text(&bad).unwrap_err();
        assert_eq!(err.line, 5, "{err}");
        assert!(err.problem.contains("protocol"), "{err}");
        let err = TrustAnchors::from_text("example. IN DNSKEY 257 3 8 !!!\n").unwrap_err();
        assert_eq!(err.line, 1, "{err}");
        let zsk = "example. IN DNSKEY 0 3 8 AwEAAQ==\n";
        assert!(
            TrustAnchors::from_text(zsk)
                .unwrap_err()
                .problem
                .contains("zone flag")
        );
        // A line after the emptied continuation lines is still numbered right.
        let err = TrustAnchors::from_text(&format!("{text}www IN A 192.0.2.1\n")).unwrap_err();
        assert_eq!(err.line, 5, "{err}");
    }

    #[test]
    fn negative_anchors_cover_descendants() {
        let mut anchors = TrustAnchors::builtin();
        anchors.add_negative(Name::from_ascii("broken.example.").unwrap());
        let below = Name::from_ascii("www.Broken.example.").unwrap();
        assert!(anchors.negative_covering(&below).is_some());
        let beside = Name::from_ascii("fine.example.").unwrap();
        assert!(anchors.negative_covering(&beside).is_none());
        let status = anchors.presumed(&below).unwrap();
        assert_eq!(
            status.to_string(),
            "insecure: negative trust anchor (zone broken.example.)"
        );
        assert_eq!(anchors.presumed(&beside), None, "validated from the root");
        assert_eq!(
            TrustAnchors::empty().presumed(&beside),
            Some(Security::Indeterminate)
        );
    }

    #[test]
    fn the_documented_anchor_file_parses() {
        // The example in docs/dnssec.md (the DNSKEY is RFC 6605's P-256 example key).
        let text = ". 86400 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n\
                    example.net. IN DNSKEY 257 3 13 ( GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb\n\
                    \x20                                  krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA== )\n";
        let anchors = TrustAnchors::from_text(text).unwrap();
        let net = anchors
            .closest(&Name::from_ascii("www.example.net.").unwrap())
            .unwrap();
        assert_eq!(net.keys[0].public_key().public_bytes().len(), 64);
        assert_eq!(net.keys[0].calculate_key_tag().unwrap(), 55648);
    }
}
