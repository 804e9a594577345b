//! Pipeline step 9b: the response to a question a local zone answers.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use scoped_ecs::SubnetDecision;
// The CNAME from a reverse name under the DNS64 prefix to its IPv4 reverse name gets the TTL the
// engine's DNS64 step gives it.
use scoped_recursor::DNS64_PTR_CNAME_TTL;

use super::LocalAnswer;
use crate::pipeline::{ParsedQuery, Pipeline, Transport};
use crate::stats::FrontendStats;

impl Pipeline {
    /// The local answer to a question, if a local zone gives one: the question's own name, or,
    /// for a PTR question under the DNS64 prefix, the IPv4 reverse name it maps to (RFC 6147
    /// §5.3.1): a private address's reverse name (RFC 1918, RFC 6303) is answered here, behind
    /// the CNAME the engine would have given, and never goes upstream.
    pub(crate) fn local_answer(&self, name: &Name, qtype: RecordType) -> Option<LocalAnswer> {
        if let Some(local) = self.local.answer(name, qtype) {
            return Some(local);
        }
        if qtype != RecordType::PTR {
            return None;
        }
        let target = self.resolver.dns64_ptr_target(name)?;
        let mut local = self.local.answer(&target, qtype)?;
        let cname = Record::from_rdata(
            name.clone(),
            DNS64_PTR_CNAME_TTL,
            RData::CNAME(CNAME(target)),
        );
        local.answers.insert(0, cname);
        Some(local)
    }

    /// The local answer as a response: AA set (the data is ours), the client's question, the
    /// local records, and the ECS echo with SCOPE 0: the answer is the same for every client.
    pub(crate) fn answer_locally(
        &self,
        query: ParsedQuery,
        decision: &SubnetDecision,
        local: LocalAnswer,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        tracing::trace!(
            name = %query.query.name(),
            qtype = %query.query.query_type(),
            zone = %local.zone,
            kind = %local.kind,
            rcode = %local.rcode,
            "answered from a local zone"
        );
        FrontendStats::bump(&self.stats().answered_local);
        let mut response = self.response(
            &query.header,
            Some(query.query),
            query.edns.as_ref(),
            local.rcode,
        );
        response.metadata.authoritative = local.rcode != ResponseCode::Refused;
        response.answers = local.answers;
        response.authorities = local.authorities;
        if let Some(client_ecs) = &query.ecs {
            self.echo_ecs(&mut response, client_ecs, decision, 0);
        }
        self.finish(response, self.size_limit(query.edns.as_ref(), transport))
    }
}
