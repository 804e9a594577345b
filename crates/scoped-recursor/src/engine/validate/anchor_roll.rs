//! RFC 5011 in the engine (`[dnssec] trust-anchor-state`): the keys of each anchored zone are
//! tracked by scoped-dnssec's `Rollover` every time the zone's DNSKEY RRset validates; the
//! keys it trusts join the configured anchor's, revoked ones leave it, and the state is
//! written to the state file (a new file renamed over the old, so a crash never leaves half a
//! file) whenever it changes. The file is read once, at the first validation; a file that
//! cannot be read or parsed is logged and tracking starts afresh from the configured anchors.

use std::path::Path;

use hickory_proto::rr::{Name, Record};
use scoped_dnssec::{Anchor, Changes, DNSKEY, Rollover};
use tracing::{info, warn};

use crate::engine::Recursor;
use crate::engine::ctx::Ctx;
use crate::engine::stats::bump;

/// Write `text` to `path` atomically: a temporary file beside it, then a rename.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// The state kept in `path`, if it holds one for `zone`.
fn read_state(path: &Path, zone: &hickory_proto::rr::Name) -> Option<Rollover> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "trust-anchor-state unreadable");
            return None;
        }
    };
    // The file holds the states of every anchored zone, one after the other.
    match Rollover::from_text(zone, &text) {
        Ok(state) if !state.keys.is_empty() => Some(state),
        Ok(_) => None,
        Err(e) => {
            warn!(path = %path.display(), error = %e, "trust-anchor-state unusable");
            None
        }
    }
}

impl Recursor {
    /// Run `f` on the tracked states (read from the state file the first time), if RFC 5011
    /// tracking is on.
    fn with_rollovers<T>(&self, f: impl FnOnce(&mut Vec<Rollover>) -> T) -> Option<T> {
        let path = self.inner.config.dnssec.trust_anchor_state.as_ref()?;
        let mut rollovers = self
            .inner
            .dnssec
            .rollovers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let rollovers = rollovers.get_or_insert_with(|| {
            let anchors = self.inner.config.dnssec.anchors.anchors();
            anchors
                .iter()
                .map(|a| read_state(path, &a.zone).unwrap_or_else(|| Rollover::new(a)))
                .collect()
        });
        Some(f(rollovers))
    }

    /// The DNSKEYs trusted for `anchor`'s zone: the configured ones not revoked since, and
    /// those RFC 5011 added.
    pub(super) fn anchor_keys(&self, anchor: &Anchor) -> Vec<DNSKEY> {
        self.with_rollovers(|rollovers| {
            let Some(state) = rollovers.iter().find(|r| r.zone == anchor.zone) else {
                return anchor.keys.clone();
            };
            let mut keys: Vec<DNSKEY> = anchor
                .keys
                .iter()
                .filter(|k| !state.is_revoked(k))
                .cloned()
                .collect();
            for key in state.trusted() {
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            keys
        })
        .unwrap_or_else(|| anchor.keys.clone())
    }

    /// Say what an operator should know of `changes` to `zone`'s keys: a trusted key gone
    /// missing (a warning, counted), a key revoked or removed.
    fn alarm(&self, zone: &Name, changes: &Changes) {
        let tag = |key: &DNSKEY| key.calculate_key_tag().unwrap_or(0);
        for key in &changes.went_missing {
            bump(&self.inner.stats.dnssec_anchor_keys_missing);
            warn!(%zone, key_tag = tag(key), "RFC 5011: a trusted key of the anchored zone is no longer published; it stays trusted while missing");
        }
        for key in &changes.revoked {
            warn!(%zone, key_tag = tag(key), "RFC 5011: a key of the anchored zone was revoked and is no longer trusted");
        }
        for key in &changes.removed {
            info!(%zone, key_tag = tag(key), "RFC 5011: a revoked key was removed from the state after the remove hold-down");
        }
    }

    /// The anchored zone's DNSKEY RRset validated: move its keys' states on, and write the
    /// state file if they changed.
    pub(super) fn observe_anchor_keys(
        &self,
        anchor: &Anchor,
        trusted: &[DNSKEY],
        dnskeys: &[Record],
        sigs: &[Record],
        ctx: &Ctx,
    ) {
        let now = self.epoch_now();
        // Trusted now: the anchor's DNSKEYs, and the published keys its DS records match.
        let mut trusted = trusted.to_vec();
        for key in dnskeys.iter().filter_map(scoped_dnssec::verify::dnskey_of) {
            let matched = anchor
                .ds
                .iter()
                .any(|ds| ds.covers(&anchor.zone, key).unwrap_or(false));
            if matched && !trusted.contains(key) {
                trusted.push(key.clone());
            }
        }
        let written = self.with_rollovers(|rollovers| {
            let state = match rollovers.iter().position(|r| r.zone == anchor.zone) {
                Some(i) => &mut rollovers[i],
                None => {
                    rollovers.push(Rollover::new(anchor));
                    rollovers.last_mut()?
                }
            };
            let changes = state.look(dnskeys, sigs, &trusted, now);
            self.alarm(&anchor.zone, &changes);
            if !changes.changed {
                return None;
            }
            ctx.trace(|| format!("  DNSSEC: RFC 5011 state of {} changed", anchor.zone));
            Some(rollovers.iter().map(Rollover::to_text).collect::<String>())
        });
        if let (Some(Some(text)), Some(path)) =
            (written, &self.inner.config.dnssec.trust_anchor_state)
            && let Err(e) = write_atomically(path, &text)
        {
            warn!(path = %path.display(), error = %e, "trust-anchor-state not written");
        }
    }
}
