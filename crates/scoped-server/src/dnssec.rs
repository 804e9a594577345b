//! DNSSEC on the way out (docs/dnssec.md): the RRSIGs of validated data only for clients that
//! asked with DO (or for RRSIGs themselves), AD for secure data when the client set DO or AD
//! (RFC 6840 §5.8), and the Extended DNS Error (RFC 8914) that says why an answer is bogus.

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Record, RecordType};
use scoped_recursor::{DNSSEC_AD, DNSSEC_CD, DNSSEC_DO, Resolution, Validation};

use crate::pipeline::{EDE_OPTION_CODE, ParsedQuery};

/// The client's DNSSEC bits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientBits {
    /// DO in its OPT.
    pub dnssec_ok: bool,
    /// AD in its header.
    pub authentic_data: bool,
    /// CD in its header.
    pub checking_disabled: bool,
}

impl ClientBits {
    pub(crate) fn of(query: &ParsedQuery) -> Self {
        Self {
            dnssec_ok: query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            authentic_data: query.header.authentic_data,
            checking_disabled: query.header.checking_disabled,
        }
    }

    /// The bits as the rendered-answer cache keys them (`WireKeyRef::dnssec`).
    pub(crate) fn wire_key_bits(self) -> u8 {
        let bit = |set: bool, bit: u8| if set { bit } else { 0 };
        bit(self.dnssec_ok, DNSSEC_DO)
            | bit(self.authentic_data, DNSSEC_AD)
            | bit(self.checking_disabled, DNSSEC_CD)
    }
}

/// Drop the DNSSEC records from `resolution` unless the client set DO (RFC 4035 §3.2.1): the
/// RRSIGs (unless it asked for RRSIGs, or ANY, itself) and the NSEC/NSEC3 proofs of negative
/// answers in the authority section.
pub(crate) fn strip_rrsigs(resolution: &mut Resolution, bits: ClientBits, qtype: RecordType) {
    if bits.dnssec_ok {
        return;
    }
    if !matches!(qtype, RecordType::RRSIG | RecordType::ANY) {
        let unsigned = |r: &Record| r.record_type() != RecordType::RRSIG;
        resolution.answers.retain(unsigned);
        resolution.authorities.retain(unsigned);
    }
    resolution.authorities.retain(|r| {
        !matches!(
            r.record_type(),
            RecordType::NSEC | RecordType::NSEC3 | RecordType::RRSIG
        )
    });
}

/// AD for a secure answer to a client that set DO or AD; the EDE, if any, for an EDNS client:
/// INFO-CODE, then the EXTRA-TEXT (why the answer is bogus, or insecure).
pub(crate) fn mark(response: &mut Message, resolution: &Resolution, bits: ClientBits) {
    response.metadata.authentic_data =
        (bits.dnssec_ok || bits.authentic_data) && resolution.security == Validation::Secure;
    if let (Some(ede), Some(edns)) = (&resolution.ede, response.edns.as_mut()) {
        let mut data = ede.code.to_be_bytes().to_vec();
        data.extend_from_slice(ede.text.as_bytes());
        edns.options_mut()
            .insert(EdnsOption::Unknown(EDE_OPTION_CODE, data));
    }
}
