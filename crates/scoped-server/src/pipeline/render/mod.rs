//! Step 11's serialisation: a response `Message` into wire bytes, written directly.
//!
//! hickory's `Message::to_vec` was the largest single cost of the front end on a cache miss
//! (about 5,000 instructions for a question, one A record and an OPT record; callgrind,
//! docs/benchmarks.md): its encoder checks every write, keeps name-compression pointers by
//! copying labels, and clones the EDNS record to emit it. This writes the same message in one
//! buffer. What it does not know how to write it leaves to hickory ([`render`] returns
//! `None`): a TSIG signature, and anything too large for a DNS message.
//!
//! Name compression (RFC 1035 §4.1.4) applies to owner names and to the names inside the
//! RDATA of the RFC 1035 types that allow it (NS, CNAME, PTR, MX, SOA); the RDATA of every
//! other type is written by hickory's own encoder, uncompressed, as RFC 3597 §4 requires for
//! types a receiver may not know. A name is pointed to only where it was written with exactly
//! the same bytes, so the case of every name is kept as the message has it.

use hickory_proto::op::{Edns, Message, MessageType};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

/// The largest offset a compression pointer can hold (14 bits).
const MAX_POINTER: usize = 0x3FFF;

/// The message in wire form, or `None` if it holds something only hickory's encoder writes.
pub(crate) fn render(message: &Message) -> Option<Vec<u8>> {
    if message.signature.is_some() {
        return None;
    }
    let mut out = Writer {
        buf: Vec::with_capacity(512),
        names: Vec::with_capacity(256),
        suffixes: Vec::with_capacity(16),
    };
    out.header(message)?;
    for query in &message.queries {
        out.name(query.name(), true)?;
        out.u16(u16::from(query.query_type()));
        out.u16(u16::from(query.query_class()));
    }
    for record in message
        .answers
        .iter()
        .chain(&message.authorities)
        .chain(&message.additionals)
    {
        out.record(record)?;
    }
    if let Some(edns) = &message.edns {
        out.opt(edns, message.metadata.response_code.high())?;
    }
    (out.buf.len() <= usize::from(u16::MAX)).then_some(out.buf)
}

/// The message being written, and where each name written so far starts.
struct Writer {
    buf: Vec<u8>,
    /// The uncompressed wire form of every name written, one after the other.
    names: Vec<u8>,
    /// A suffix of a name written: its range in `names` and where it is in `buf`.
    suffixes: Vec<(usize, usize, u16)>,
}

impl Writer {
    fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn header(&mut self, message: &Message) -> Option<()> {
        let meta = &message.metadata;
        let count = |n: usize| u16::try_from(n).ok();
        let additionals = message.additionals.len() + usize::from(message.edns.is_some());
        self.u16(meta.id);
        let qr = u8::from(meta.message_type == MessageType::Response) << 7;
        self.buf.push(
            qr | (u8::from(meta.op_code) & 0x0F) << 3
                | u8::from(meta.authoritative) << 2
                | u8::from(meta.truncation) << 1
                | u8::from(meta.recursion_desired),
        );
        self.buf.push(
            u8::from(meta.recursion_available) << 7
                | u8::from(meta.authentic_data) << 5
                | u8::from(meta.checking_disabled) << 4
                | meta.response_code.low() & 0x0F,
        );
        for n in [
            message.queries.len(),
            message.answers.len(),
            message.authorities.len(),
            additionals,
        ] {
            self.u16(count(n)?);
        }
        Some(())
    }

    /// A name, pointing to an earlier copy of its longest suffix written before (only with
    /// `compress`), and remembered for later names.
    fn name(&mut self, name: &Name, compress: bool) -> Option<()> {
        let start = self.names.len();
        // Where each label starts in the name (a name has at most 127 labels of 255 octets).
        let mut starts = [0u8; 128];
        let mut count = 0;
        for label in name.iter() {
            *starts.get_mut(count)? = u8::try_from(self.names.len() - start).ok()?;
            count += 1;
            self.names.push(u8::try_from(label.len()).ok()?);
            self.names.extend_from_slice(label);
        }
        self.names.push(0);
        let end = self.names.len();
        if end - start > 255 {
            return None;
        }
        let labels = starts[..count].iter().map(|&at| start + usize::from(at));
        // The longest suffix already written (the whole name first).
        let found = compress
            .then(|| {
                labels.clone().enumerate().find_map(|(i, at)| {
                    let suffix = &self.names[at..end];
                    self.suffixes
                        .iter()
                        .find(|&&(from, to, _)| self.names[from..to] == *suffix)
                        .map(|&(_, _, pointer)| (i, pointer))
                })
            })
            .flatten();
        let literal = found.map_or(count, |(i, _)| i);
        for at in labels.take(literal) {
            let here = self.buf.len();
            if compress && here <= MAX_POINTER {
                self.suffixes.push((at, end, here as u16));
            }
            let len = usize::from(self.names[at]);
            self.buf.extend_from_slice(&self.names[at..at + 1 + len]);
        }
        match found {
            Some((_, pointer)) => self.u16(0xC000 | pointer),
            None => self.buf.push(0),
        }
        Some(())
    }

    fn record(&mut self, record: &Record) -> Option<()> {
        self.name(&record.name, true)?;
        self.u16(u16::from(record.record_type()));
        self.u16(u16::from(record.dns_class));
        self.u32(record.ttl);
        let length_at = self.buf.len();
        self.u16(0);
        match &record.data {
            RData::A(a) => self.buf.extend_from_slice(&a.0.octets()),
            RData::AAAA(aaaa) => self.buf.extend_from_slice(&aaaa.0.octets()),
            RData::CNAME(target) => self.name(&target.0, true)?,
            RData::NS(target) => self.name(&target.0, true)?,
            RData::PTR(target) => self.name(&target.0, true)?,
            RData::MX(mx) => {
                self.u16(mx.preference);
                self.name(&mx.exchange, true)?;
            }
            RData::SOA(soa) => {
                self.name(&soa.mname, true)?;
                self.name(&soa.rname, true)?;
                for value in [soa.serial, soa.refresh as u32, soa.retry as u32] {
                    self.u32(value);
                }
                for value in [soa.expire as u32, soa.minimum] {
                    self.u32(value);
                }
            }
            // An OPT record among the additionals is hickory's to write (and a message only
            // carries one, in `edns`).
            RData::OPT(_) => return None,
            other => {
                debug_assert_ne!(other.record_type(), RecordType::OPT);
                let bytes = other.to_bytes().ok()?;
                self.buf.extend_from_slice(&bytes);
            }
        }
        let length = u16::try_from(self.buf.len() - length_at - 2).ok()?;
        self.buf[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
        Some(())
    }

    /// The OPT pseudo-record (RFC 6891 §6.1.2): root owner, the payload size as its class, the
    /// extended RCODE, version and flags as its TTL, the options as its RDATA.
    fn opt(&mut self, edns: &Edns, rcode_high: u8) -> Option<()> {
        self.buf.push(0);
        self.u16(u16::from(RecordType::OPT));
        self.u16(edns.max_payload().max(512));
        self.u32(
            u32::from(rcode_high) << 24
                | u32::from(edns.version()) << 16
                | u32::from(u16::from(*edns.flags())),
        );
        let options = edns.options().to_bytes().ok()?;
        self.u16(u16::try_from(options.len()).ok()?);
        self.buf.extend_from_slice(&options);
        Some(())
    }
}

#[cfg(test)]
mod tests;
