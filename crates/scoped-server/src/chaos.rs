//! CHAOS-class questions about the server itself (RFC 4892): `id.server.` and `hostname.bind.`
//! TXT CH give `[server] identity`; `version.bind.` and `version.server.` give `[server] version`.
//! Each is answered only when its value is configured: otherwise, like any other question in a
//! class other than IN, it is REFUSED (the version stays hidden by default).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::pipeline::{ErrorReason, Pipeline, Rejection, Transport};

/// What the server says about itself in class CHAOS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chaos {
    /// The answer to `id.server.` and `hostname.bind.`; `None`: REFUSED.
    pub identity: Option<String>,
    /// The answer to `version.bind.` and `version.server.`; `None`: REFUSED.
    pub version: Option<String>,
}

impl Chaos {
    /// The TXT string for `name` (class CH), if it is one of the four names and configured.
    pub fn text_for(&self, name: &Name) -> Option<&str> {
        let name = name.to_lowercase().to_ascii();
        match name.as_str() {
            "id.server." | "hostname.bind." => self.identity.as_deref(),
            "version.bind." | "version.server." => self.version.as_deref(),
            _ => None,
        }
    }
}

impl Pipeline {
    /// The answer to a query rejected only for its class, when it is a CHAOS TXT question this
    /// server answers (the ACL already let the client in); `None`: reject it as usual.
    pub(crate) fn answer_chaos(
        &self,
        rejection: &Rejection,
        transport: Transport,
    ) -> Option<Vec<u8>> {
        let Rejection::Reply {
            reason: ErrorReason::UnsupportedClass(DNSClass::CH),
            context,
        } = rejection
        else {
            return None;
        };
        let question = context.question.as_ref()?;
        if question.query_type() != RecordType::TXT {
            return None;
        }
        let text = self.chaos.text_for(question.name())?;
        let mut record = Record::from_rdata(
            question.name().clone(),
            0,
            RData::TXT(TXT::new(vec![text.to_string()])),
        );
        record.dns_class = DNSClass::CH;
        let mut response = self.response(
            &context.header,
            Some(question.clone()),
            context.edns.as_ref(),
            ResponseCode::NoError,
        );
        response.metadata.authoritative = true;
        response.answers.push(record);
        self.finish(response, self.size_limit(context.edns.as_ref(), transport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_their_setting_case_insensitively() {
        let chaos = Chaos {
            identity: Some("resolver-1".into()),
            version: None,
        };
        let name = |text: &str| Name::from_ascii(text).unwrap();
        assert_eq!(chaos.text_for(&name("ID.Server.")), Some("resolver-1"));
        assert_eq!(chaos.text_for(&name("hostname.bind.")), Some("resolver-1"));
        assert_eq!(chaos.text_for(&name("version.bind.")), None);
        assert_eq!(chaos.text_for(&name("version.server.")), None);
        assert_eq!(chaos.text_for(&name("authors.bind.")), None);
    }
}
