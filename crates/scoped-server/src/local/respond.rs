//! Pipeline step 9b: the response to a question a local zone answers.

use hickory_proto::op::ResponseCode;
use scoped_ecs::SubnetDecision;

use super::LocalAnswer;
use crate::pipeline::{ParsedQuery, Pipeline, Transport};
use crate::stats::FrontendStats;

impl Pipeline {
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
