//! `[local]`: local zones and data (scoped-server's `LocalZones`), with the file line of a bad
//! entry.

use scoped_server::{LocalConfig, LocalError, LocalZoneKind, LocalZoneSpec, LocalZones};
use serde::Deserialize;
use toml::Spanned;

/// `[local]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct LocalSection {
    /// Default zones turned off, by name (`["test."]`).
    pub nodefault: Vec<Spanned<String>>,
    /// Local zones: `"ads.example. always-nxdomain"` or `{ name = "corp.example.", type =
    /// "static" }`.
    pub zones: Vec<Spanned<ZoneEntry>>,
    /// Local data, one record per string in zone-file syntax.
    pub records: Vec<Spanned<String>>,
}

/// One `local.zones` entry, in either form.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ZoneEntry {
    /// `"ads.example. always-nxdomain"`: name and type in one string.
    Compact(String),
    /// `{ name = "corp.example.", type = "static" }`.
    Table(ZoneTable),
}

/// The table form of a `local.zones` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneTable {
    /// The zone's name.
    pub name: String,
    /// static, transparent, refuse, always-nxdomain or redirect.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A bad `[local]` entry, with the line of the file it is on.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {source}")]
pub struct LocalSectionError {
    /// 1-based line of the entry in the configuration file.
    pub line: usize,
    /// The entry and what is wrong with it.
    pub source: LocalError,
}

impl LocalSection {
    /// Validates the section and builds the table; `text` is the configuration file (for the
    /// line of a bad entry).
    pub fn build(&self, text: &str) -> Result<LocalZones, LocalSectionError> {
        let line_of = |start: usize| text[..start.min(text.len())].matches('\n').count() + 1;
        let mut zones = Vec::with_capacity(self.zones.len());
        for (index, entry) in self.zones.iter().enumerate() {
            let parsed = match entry.get_ref() {
                ZoneEntry::Compact(text) => {
                    text.parse::<LocalZoneSpec>().map_err(|p| (text.clone(), p))
                }
                ZoneEntry::Table(table) => table
                    .kind
                    .parse::<LocalZoneKind>()
                    .map(|kind| LocalZoneSpec {
                        name: table.name.clone(),
                        kind,
                    })
                    .map_err(|p| (format!("{} {}", table.name, table.kind), p)),
            };
            match parsed {
                Ok(spec) => zones.push(spec),
                Err((entry_text, problem)) => {
                    return Err(LocalSectionError {
                        line: line_of(entry.span().start),
                        source: LocalError {
                            key: "local.zones",
                            index,
                            entry: entry_text,
                            problem,
                        },
                    });
                }
            }
        }
        let config = LocalConfig {
            nodefault: self.nodefault.iter().map(|s| s.get_ref().clone()).collect(),
            zones,
            records: self.records.iter().map(|s| s.get_ref().clone()).collect(),
        };
        LocalZones::build(&config).map_err(|source| {
            let span = match source.key {
                "local.nodefault" => self.nodefault.get(source.index).map(Spanned::span),
                "local.zones" => self.zones.get(source.index).map(Spanned::span),
                _ => self.records.get(source.index).map(Spanned::span),
            };
            LocalSectionError {
                line: span.map_or(0, |span| line_of(span.start)),
                source,
            }
        })
    }
}
