//! The answer cache of the fast path: whole response bodies as the front end rendered them, so a
//! repeated question is answered by copying bytes and patching the ID and TTLs.
//!
//! It is derived from the record and tailored caches, never a source of truth: an entry is the
//! rendering of one [resolution] for one (question, client subnet), kept for a part of its TTL
//! (the engine decides how long — short of the prefetch window, so that prefetch still sees the
//! hits that matter) and dropped with every flush. Keys are the question name in lowercase wire
//! form, the type, and the client subnet the front end decided (E19 is applied when the entry is
//! made, by the engine's lookup; the entry then serves exactly that subnet), or [`WireClients::
//! Every`] for an answer the engine says is the same for every client (scope 0 and nothing
//! tailored cached for the name), so that a resolver with ECS on does not render the same global
//! answer once per client subnet.
//!
//! The body is the answer and authority sections after the question. Compression pointers in it
//! point into the question (offset 12) or into the body itself, and a later query for the same
//! name has a question of the same length, so the body is valid after any question that matches
//! the key, whatever its case.
//!
//! [resolution]: https://docs.rs/scoped-recursor

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hickory_proto::rr::{Name, RecordType};
use ipnet::IpNet;
use scoped_ecs::wire::{self, Counts, HEADER_LEN, QUESTION_FIXED_LEN, TYPE_OPT};
use tokio::time::Instant;

/// What an entry costs beyond its body and TTL table: the key's name, the `Arc`, the cache's
/// own slot (quick_cache: a few words per entry).
const ENTRY_OVERHEAD_BYTES: u64 = 160;

/// Which clients a stored answer serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireClients {
    /// Every client, whatever its subnet (the engine said the answer does not depend on it).
    Every,
    /// Queries for which no subnet was decided.
    NoSubnet,
    /// Queries whose decided subnet is exactly this.
    Subnet(IpNet),
}

impl From<Option<IpNet>> for WireClients {
    fn from(subnet: Option<IpNet>) -> Self {
        subnet.map_or(Self::NoSubnet, Self::Subnet)
    }
}

/// The key of a stored answer. See [`WireKeyRef`] for lookups without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireKey {
    name: Box<[u8]>,
    qtype: u16,
    clients: WireClients,
    dnssec: u8,
}

/// A borrowed [`WireKey`]: the name in lowercase wire form (labels with their length octets,
/// ending in the root label), the QTYPE and the clients served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireKeyRef<'a> {
    /// The lowercase wire name.
    pub name: &'a [u8],
    /// The QTYPE.
    pub qtype: u16,
    /// The clients the answer serves.
    pub clients: WireClients,
    /// The query's DNSSEC bits when they change the answer (a validating resolver): DO
    /// ([`DNSSEC_DO`]), AD and CD; 0 otherwise. An answer is replayed only to queries with the
    /// bits it was rendered for: they decide its RRSIGs, its proofs and its AD flag.
    pub dnssec: u8,
}

/// [`WireKeyRef::dnssec`]: the query set DO in its OPT.
pub const DNSSEC_DO: u8 = 1;
/// [`WireKeyRef::dnssec`]: the query set AD in its header.
pub const DNSSEC_AD: u8 = 2;
/// [`WireKeyRef::dnssec`]: the query set CD in its header.
pub const DNSSEC_CD: u8 = 4;

impl WireKeyRef<'_> {
    /// The owned key.
    pub fn to_key(&self) -> WireKey {
        WireKey {
            name: self.name.into(),
            qtype: self.qtype,
            clients: self.clients,
            dnssec: self.dnssec,
        }
    }
}

// The two hash alike, field by field, so a `WireKeyRef` finds its `WireKey`.
impl Hash for WireKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state);
    }
}

impl Hash for WireKeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.qtype.hash(state);
        self.clients.hash(state);
        self.dnssec.hash(state);
    }
}

impl WireKey {
    /// The key of a question for `name` (any case) and `qtype`, answered for `clients`.
    pub fn new(name: &Name, qtype: RecordType, clients: WireClients) -> Self {
        Self {
            name: lowercase_wire(name).into_boxed_slice(),
            qtype: u16::from(qtype),
            clients,
            dnssec: 0,
        }
    }

    /// The key for queries with these DNSSEC bits ([`WireKeyRef::dnssec`]).
    pub fn with_dnssec(mut self, dnssec: u8) -> Self {
        self.dnssec = dnssec;
        self
    }

    fn as_ref(&self) -> WireKeyRef<'_> {
        WireKeyRef {
            name: &self.name,
            qtype: self.qtype,
            clients: self.clients,
            dnssec: self.dnssec,
        }
    }

    /// Whether `name` (lowercase wire form) is this key's name or, with `subtree`, one of its
    /// ancestors.
    fn is_at_or_below(&self, name: &[u8], subtree: bool) -> bool {
        if subtree {
            crate::key::wire_at_or_below(&self.name, name)
        } else {
            *self.name == *name
        }
    }
}

impl quick_cache::Equivalent<WireKey> for WireKeyRef<'_> {
    fn equivalent(&self, key: &WireKey) -> bool {
        *self == key.as_ref()
    }
}

/// `name` in lowercase wire form (uncompressed labels, then the root label), as keys hold it.
pub fn lowercase_wire(name: &Name) -> Vec<u8> {
    crate::key::lower_wire(name).into_vec()
}

/// Why a rendered response cannot be kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// The bytes end inside a name or record, or a name is malformed.
    Truncated,
    /// The response is not one answer to one question (QDCOUNT ≠ 1, TC set).
    NotAnAnswer,
    /// The additional section holds more than the OPT record.
    Additional,
}

/// One stored response: everything after the question but the OPT record, with where its TTLs
/// are, and the header fields that go with it.
#[derive(Debug)]
pub struct WireAnswer {
    /// The RCODE (NOERROR or NXDOMAIN).
    pub rcode: u8,
    /// The ECS scope of the data (E23 echo).
    pub scope: u8,
    /// AD was set in the rendered response (secure data, for a query with DO or AD).
    pub authentic: bool,
    /// ANCOUNT.
    pub answers: u16,
    /// NSCOUNT.
    pub authorities: u16,
    body: Box<[u8]>,
    /// (offset in `body`, TTL when rendered) of every record.
    ttls: Box<[(u16, u32)]>,
    /// When it was stored and until when it may answer.
    stored: Instant,
    until: Instant,
    /// The generation of its name's bucket when it was stored (`WireCache::forget`).
    generation: u32,
}

impl WireAnswer {
    /// The body of `response` (a whole rendered response to one question, not truncated, with
    /// nothing in its additional section but an OPT), for data of ECS `scope`.
    pub fn from_response(response: &[u8], scope: u8) -> Result<Self, WireError> {
        let header = wire::header(response).ok_or(WireError::Truncated)?;
        let Counts {
            questions,
            answers,
            authorities,
            additionals,
        } = Counts::of(header);
        if questions != 1 || header[2] & 0x02 != 0 {
            return Err(WireError::NotAnAnswer);
        }
        let mut pos = skip_name(response, HEADER_LEN)? + QUESTION_FIXED_LEN;
        let start = pos;
        let mut ttls = Vec::with_capacity(usize::from(answers) + usize::from(authorities));
        for _ in 0..u32::from(answers) + u32::from(authorities) {
            pos = skip_name(response, pos)?;
            let fixed = wire::rr_fixed(response, pos).ok_or(WireError::Truncated)?;
            // The TTL's offset in the body: after TYPE and CLASS.
            let offset = u16::try_from(pos + 4 - start).map_err(|_| WireError::Truncated)?;
            ttls.push((offset, fixed.ttl_secs()));
            pos = fixed.end(response, pos).ok_or(WireError::Truncated)?;
        }
        // Only the OPT may follow (minimal responses); it is rebuilt per client.
        if additionals > 1 {
            return Err(WireError::Additional);
        }
        if additionals == 1 {
            let end = skip_name(response, pos)?;
            let rtype = response.get(end..end + 2).ok_or(WireError::Truncated)?;
            if rtype != TYPE_OPT.to_be_bytes() {
                return Err(WireError::Additional);
            }
        }
        let now = Instant::now();
        Ok(Self {
            rcode: header[3] & 0x0f,
            scope,
            authentic: header[3] & 0x20 != 0,
            answers,
            authorities,
            body: response[start..pos].into(),
            ttls: ttls.into_boxed_slice(),
            stored: now,
            until: now,
            generation: 0,
        })
    }

    /// The smallest TTL of its records (`None`: no records, nothing says how long it lives).
    pub fn min_ttl(&self) -> Option<u32> {
        self.ttls.iter().map(|&(_, ttl)| ttl).min()
    }

    /// Appends the body to `out` with every TTL counted down to `now`; `false` (nothing
    /// appended) once the entry may no longer answer.
    pub fn write_body(&self, out: &mut Vec<u8>, now: Instant) -> bool {
        if now >= self.until {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.stored).as_secs();
        let elapsed = u32::try_from(elapsed).unwrap_or(u32::MAX);
        let base = out.len();
        out.extend_from_slice(&self.body);
        for &(offset, ttl) in self.ttls.iter() {
            let at = base + usize::from(offset);
            out[at..at + 4].copy_from_slice(&ttl.saturating_sub(elapsed).to_be_bytes());
        }
        true
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether the body is empty (a NODATA without SOA).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    fn weight(&self) -> u64 {
        (self.body.len() + self.ttls.len() * 8) as u64 + ENTRY_OVERHEAD_BYTES
    }
}

/// Past the name at `pos`: its end (after the root label or a compression pointer). The response
/// is our own rendering, so any malformed name (which [`wire::skip_name`] refuses) is a bug
/// upstream of the cache; it is not kept.
fn skip_name(msg: &[u8], pos: usize) -> Result<usize, WireError> {
    wire::skip_name(msg, pos)
        .map(|name| name.end)
        .map_err(|_| WireError::Truncated)
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<WireKey, Arc<WireAnswer>> for Weigh {
    fn weight(&self, key: &WireKey, value: &Arc<WireAnswer>) -> u64 {
        value.weight() + key.name.len() as u64
    }
}

/// The answer cache: bounded in bytes, sharded, lookups without allocation. Cheap to clone.
#[derive(Clone)]
pub struct WireCache {
    entries: Arc<quick_cache::sync::Cache<WireKey, Arc<WireAnswer>, Weigh>>,
    /// A generation per bucket of names: `forget` steps the bucket of a name, which retires
    /// every answer stored for a name of that bucket before it, in O(1). (Scanning the whole
    /// cache for the name, as `flush` does, cost milliseconds per tailored answer stored once
    /// the cache held a few hundred thousand answers.)
    generations: Arc<[AtomicU32]>,
    /// The longest subnet prefix any answer was stored for, IPv4 and IPv6: while a tailored
    /// entry's scope is at least this long, the rendered answers it can make wrong are known
    /// exactly ([`WireCache::forget_for`]).
    longest_subnet: Arc<[std::sync::atomic::AtomicU8; 2]>,
    /// Every DNSSEC-bits value ([`WireKeyRef::dnssec`]) an answer was stored for, as a bit set:
    /// [`WireCache::forget_for`] removes only those variants.
    dnssec_variants: Arc<std::sync::atomic::AtomicU8>,
}

/// Buckets of [`WireCache::forget`]'s generations: a forgotten name retires the answers of the
/// other names of its bucket too, which costs them a trip down the full path, nothing more.
const GENERATION_BUCKETS: usize = 1 << 16;

/// The bucket of a lowercase wire name (FNV-1a: names here are short, and a collision only
/// retires an answer early).
fn generation_bucket(name: &[u8]) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in name {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    hash as usize & (GENERATION_BUCKETS - 1)
}

/// QTYPE ANY: its rendered answer holds every type of the name.
const TYPE_ANY: u16 = 255;

/// 0 for IPv4, 1 for IPv6.
fn family_index(net: &IpNet) -> usize {
    usize::from(matches!(net, IpNet::V6(_)))
}

impl std::fmt::Debug for WireCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireCache")
            .field("entries", &self.entries.len())
            .field("weight", &self.entries.weight())
            .finish()
    }
}

/// Expected size of one entry, for sizing the cache's item table.
const TYPICAL_ENTRY_BYTES: u64 = 300;

impl WireCache {
    /// An empty cache holding at most about `max_bytes`.
    pub fn new(max_bytes: u64) -> Self {
        let items = (max_bytes / TYPICAL_ENTRY_BYTES).max(16);
        let entries = quick_cache::sync::Cache::with_weighter(
            usize::try_from(items).unwrap_or(usize::MAX),
            max_bytes.max(1),
            Weigh,
        );
        Self {
            entries: Arc::new(entries),
            generations: (0..GENERATION_BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            longest_subnet: Arc::new([
                std::sync::atomic::AtomicU8::new(0),
                std::sync::atomic::AtomicU8::new(0),
            ]),
            dnssec_variants: Arc::new(std::sync::atomic::AtomicU8::new(0)),
        }
    }

    /// The byte limit in force.
    pub fn max_bytes(&self) -> u64 {
        self.entries.capacity()
    }

    /// Move the byte limit while the cache runs (a reload); a smaller one evicts at once, least
    /// recently used first (the answers are derived data, rendered again on the next miss).
    pub fn set_max_bytes(&self, bytes: u64) {
        self.entries.set_capacity(bytes.max(1));
    }

    fn generation(&self, name: &[u8]) -> u32 {
        self.generations[generation_bucket(name)].load(Ordering::Acquire)
    }

    /// The stored answer for `key` if it may still answer at `now`.
    pub fn get(&self, key: &WireKeyRef<'_>, now: Instant) -> Option<Arc<WireAnswer>> {
        let answer = self.entries.get(key)?;
        (now < answer.until && answer.generation == self.generation(key.name)).then_some(answer)
    }

    /// The answer for a query from `key.clients`: the one stored for exactly that subnet, else
    /// one stored for [`WireClients::Every`] (E19: a covering /24 is longer than scope 0).
    ///
    /// A client without a subnet is served alike by an answer for every client and by one of
    /// its own (no subnet is longer than another), so for it the answer for every client, the
    /// common case (most names are not tailored), is tried first: one lookup per hit, not two.
    pub fn lookup(&self, key: &WireKeyRef<'_>, now: Instant) -> Option<Arc<WireAnswer>> {
        let (first, then) = match key.clients {
            WireClients::NoSubnet => (WireClients::Every, WireClients::NoSubnet),
            exact => (exact, WireClients::Every),
        };
        let with = |clients| WireKeyRef { clients, ..*key };
        self.get(&with(first), now)
            .or_else(|| self.get(&with(then), now))
    }

    /// Keep `answer` for `key`, answering for `lifetime` from `now`.
    pub fn insert(&self, key: WireKey, mut answer: WireAnswer, now: Instant, lifetime: Duration) {
        if lifetime.is_zero() {
            return;
        }
        answer.stored = now;
        answer.until = now + lifetime;
        answer.generation = self.generation(&key.name);
        if let WireClients::Subnet(net) = key.clients {
            self.longest_subnet[family_index(&net)].fetch_max(net.prefix_len(), Ordering::AcqRel);
        }
        // Three bits make eight values, one bit each here.
        self.dnssec_variants
            .fetch_or(1 << (key.dnssec & 7), Ordering::AcqRel);
        self.entries.insert(key, Arc::new(answer));
    }

    /// Drop the answers for (`name`, `qtype`) that an entry tailored to `clients` can make
    /// wrong, when they are known exactly, and say whether they were; else the caller retires
    /// the name with [`WireCache::forget`].
    ///
    /// They are known for an entry that serves one subnet at least as long as any subnet an
    /// answer was stored for: it covers no stored subnet but its own (a longer one it would
    /// cover does not exist; a shorter one it cannot serve, its scope being longer than that
    /// query's source), so the answers it changes are the one for that subnet and the one for
    /// every client. An entry for queries without a subnet changes that answer and the one for
    /// every client. Removing just those, instead of retiring every answer of the name, keeps
    /// the other subnets' answers of a name filled subnet by subnet, and leaves no retired
    /// answer taking room until it is evicted.
    pub fn forget_for(&self, name: &[u8], qtype: u16, clients: WireClients) -> bool {
        let exact = match clients {
            WireClients::Subnet(net) => {
                net.prefix_len() >= self.longest_subnet[family_index(&net)].load(Ordering::Acquire)
            }
            WireClients::NoSubnet => true,
            WireClients::Every => false,
        };
        if !exact {
            return false;
        }
        let variants = self.dnssec_variants.load(Ordering::Acquire);
        for dnssec in (0..8).filter(|bit| variants & (1 << bit) != 0) {
            for qtype in [qtype, TYPE_ANY] {
                for clients in [WireClients::Every, clients] {
                    self.entries.remove(&WireKeyRef {
                        name,
                        qtype,
                        clients,
                        dnssec,
                    });
                }
            }
        }
        true
    }

    /// Retire every answer stored so far for `name` (lowercase wire form), for every type and
    /// every client, in O(1): something tailored is being cached for it (E19). The answers stay
    /// in the table until evicted, but no lookup returns them.
    pub fn forget(&self, name: &[u8]) {
        self.generations[generation_bucket(name)].fetch_add(1, Ordering::AcqRel);
    }

    /// Forget the answers for `name` (lowercase wire form) or, with `subtree`, for it and every
    /// name below it.
    pub fn flush(&self, name: &[u8], subtree: bool) {
        self.entries
            .retain(|key, _| !key.is_at_or_below(name, subtree));
    }

    /// Forget everything.
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Estimated bytes held.
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests;
