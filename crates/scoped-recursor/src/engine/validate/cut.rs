//! Unsigned delegations the iteration never saw: a server that hosts a signed zone and an
//! unsigned child of it answers for the child's names itself, without a referral, so the data
//! comes as if from the parent, without signatures. Before such data is called bogus, the DS of
//! each name between the parent and the data's owner is asked of the parent, as Unbound does:
//! a signed proof that a delegation there has no DS makes the data insecure.
//!
//! A forwarder answers every name as if from one zone (the forward zone, often the root): on the
//! way down, a name that has a DS is a signed zone cut, and the walk goes on below it with that
//! zone's keys, so unsigned data deep under signed zones is found insecure at its own cut.

use hickory_proto::rr::{Name, RecordType};
use scoped_dnssec::{Denied, Kind, Reason, Security, ZoneKeys, prove_denial};
use tokio::time::{Duration, Instant};

use super::ds::cut_proven;
use super::{INSECURE_TTL, ZoneState};
use crate::classify::Step;
use crate::engine::ctx::Ctx;
use crate::engine::{Recursor, ResolveError};

impl Recursor {
    /// The unsigned delegation between `zone` (secure, with `keys`) and `name`, if its parent
    /// proves one: the first zone cut below `zone` on the way to `name`.
    pub(super) async fn unsigned_cut(
        &self,
        zone: &Name,
        keys: &ZoneKeys,
        name: &Name,
        ctx: &Ctx,
    ) -> Result<Option<Reason>, ResolveError> {
        let top = (zone, keys);
        // The signed child the walk went down into, if any.
        let mut child: Option<(Name, std::sync::Arc<ZoneKeys>)> = None;
        let mut labels = usize::from(zone.num_labels()) + 1;
        while labels <= usize::from(name.num_labels()) {
            let (zone, keys) = match &child {
                Some((zone, keys)) => (zone, &**keys),
                None => top,
            };
            let cut = name.trim_to(labels).to_lowercase();
            labels += 1;
            if let Some((until, ZoneState::Insecure(reason))) = self.inner.dnssec.zones.get(&cut)
                && Instant::now() < until
            {
                return Ok(Some(reason));
            }
            let (step, evidence) = self.fetch(&cut, RecordType::DS, ctx).await?;
            let Step::NoData { .. } = step else {
                // A DS: a signed child. Its data should have been signed, unless an unsigned
                // cut lies further down: on with the child's keys.
                if let Step::Answer { .. } = step
                    && cut != *name
                    && let ZoneState::Secure(keys) = self.zone_state(&cut, ctx).await?
                {
                    child = Some((cut, keys));
                    continue;
                }
                // No such name, or a child whose keys do not validate.
                return Ok(None);
            };
            let Ok(denials) = self.verified_denials(&evidence, zone, keys) else {
                return Ok(None);
            };
            let reason = match prove_denial(
                zone,
                &cut,
                &Denied::NoData(RecordType::DS),
                &denials,
                &self.inner.config.dnssec.policy,
            ) {
                Security::Secure if cut_proven(&cut, zone, &denials) => {
                    Reason::new(Kind::UnsignedDelegation, &cut)
                }
                // No DS because no cut here: an ordinary name; look further down.
                Security::Secure => continue,
                Security::Insecure(reason) => reason,
                Security::Bogus(_) | Security::Indeterminate => return Ok(None),
            };
            ctx.trace(|| format!("  DNSSEC: {cut} is an unsigned delegation ({reason})"));
            let max_ttl = self.inner.cache.config().max_ttl;
            let until = Instant::now() + Duration::from_secs(u64::from(INSECURE_TTL.min(max_ttl)));
            let state = ZoneState::Insecure(reason.clone());
            self.inner.dnssec.zones.insert(cut, (until, state));
            return Ok(Some(reason));
        }
        Ok(None)
    }
}
