//! `GET /lookup` and `GET /dump`: what the caches hold, for one name (JSON) or all of it
//! (zone-file-like text, streamed).
//!
//! The dump is written by a blocking task that walks the caches one entry at a time and hands
//! the text over in chunks through a channel of a few slots: the response streams, memory stays
//! bounded by the chunks in flight whatever the cache's size, and a client that stops reading
//! stops the walk.

use std::fmt::Write as _;

use hickory_proto::rr::{Name, RecordType};
use http_body_util::StreamBody;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Frame;
use scoped_cache::{CacheView, CachedData};

use super::*;

/// The body of every control response: whole (`Full`) or streamed (the dump).
pub(super) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Text handed to the HTTP connection at a time.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks written ahead of the client.
const CHUNKS_IN_FLIGHT: usize = 4;

/// `GET /lookup?name=NAME&type=TYPE`: every entry of both caches for the name (of that type,
/// and its NXDOMAIN; without `type`, of every type).
pub(super) async fn lookup(resolver: &Arc<RunningResolver>, query: &str) -> Response<Full<Bytes>> {
    let (name, rtype) = match lookup_params(query) {
        Ok(params) => params,
        Err(problem) => return error_response(StatusCode::BAD_REQUEST, &problem),
    };
    let resolver = Arc::clone(resolver);
    // Without a type this walks the caches: off the runtime's workers.
    let found = tokio::task::spawn_blocking(move || {
        let now = tokio::time::Instant::now();
        let recursor = &resolver.recursor;
        let records = recursor.cache().views_of(&name, rtype, now);
        let tailored = recursor.scoped_cache().views_of(&name, rtype, now);
        json!({
            "name": name.to_string(),
            "type": rtype.map(|t| t.to_string()),
            "records": records.iter().map(view_json).collect::<Vec<_>>(),
            "tailored": tailored.iter().map(view_json).collect::<Vec<_>>(),
        })
    })
    .await;
    match found {
        Ok(found) => json_response(StatusCode::OK, &found),
        Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The name (made absolute) and the optional type of a lookup's query string.
fn lookup_params(query: &str) -> Result<(Name, Option<RecordType>), String> {
    let (mut name, mut rtype) = (None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "name" => {
                let mut parsed = Name::from_ascii(value.as_ref())
                    .map_err(|e| format!("{value:?} is not a domain name: {e}"))?;
                parsed.set_fqdn(true);
                name = Some(parsed);
            }
            "type" => {
                let parsed: RecordType = value
                    .to_ascii_uppercase()
                    .parse()
                    .map_err(|_| format!("{value:?} is not a record type"))?;
                rtype = Some(parsed);
            }
            other => return Err(format!("unexpected parameter {other:?} (name, type)")),
        }
    }
    let name = name.ok_or("the name to look up is missing (?name=…)")?;
    Ok((name, rtype))
}

/// One entry as `/lookup` shows it.
fn view_json(view: &CacheView) -> Value {
    let mut lines = String::new();
    write_view(view, &mut lines);
    json!({
        "type": view.rtype.map_or_else(|| "*".to_owned(), |t| t.to_string()),
        "scope": view.scope.map(|scope| scope_text(&scope)),
        "ttl_left": view.ttl_left,
        "expired": view.ttl_left.is_none(),
        "negative": match &view.data {
            CachedData::Rrset { .. } => None,
            CachedData::NoData { .. } => Some("nodata"),
            CachedData::NxDomain { .. } => Some("nxdomain"),
        },
        "validation": format!("{:?}", view.validation).to_ascii_lowercase(),
        "trust": view.trust.map(|t| format!("{t:?}")),
        "records": lines.lines().collect::<Vec<_>>(),
    })
}

/// A scope as the dump and `/lookup` write it: `global`, `source-zero-only`,
/// `198.51.100.0/24`, `exact 198.51.100.0/24`.
fn scope_text(scope: &scoped_ecs::CacheScope) -> String {
    match scope {
        scoped_ecs::CacheScope::Global => "global".into(),
        scoped_ecs::CacheScope::SourceZeroOnly => "source-zero-only".into(),
        scoped_ecs::CacheScope::Covering(net) => net.to_string(),
        scoped_ecs::CacheScope::ExactSource(net) => format!("exact {net}"),
    }
}

/// Appends one entry, zone-file-like: a line per record with a comment saying the TTL left,
/// the scope, trust and validation; a negative entry is one comment line with its SOA.
fn write_view(view: &CacheView, out: &mut String) {
    let mut comment = match view.ttl_left {
        Some(left) => format!("ttl-left={left}"),
        None => "expired (kept for serve-stale)".to_owned(),
    };
    if let Some(scope) = &view.scope {
        let _ = write!(comment, " scope={}", scope_text(scope));
    }
    if let Some(trust) = view.trust {
        let _ = write!(comment, " trust={trust:?}");
    }
    let _ = write!(
        comment,
        " validation={}",
        format!("{:?}", view.validation).to_ascii_lowercase()
    );
    let rtype = view.rtype.map_or_else(|| "*".to_owned(), |t| t.to_string());
    match &view.data {
        CachedData::Rrset { records, .. } => {
            for record in records {
                let _ = writeln!(out, "{record} ; {comment}");
            }
        }
        CachedData::NoData { soa } => {
            let _ = writeln!(out, "; {} IN {rtype} NODATA ; {comment} ; {soa}", view.name);
        }
        CachedData::NxDomain { soa } => {
            let _ = writeln!(
                out,
                "; {} IN {rtype} NXDOMAIN ; {comment} ; {soa}",
                view.name
            );
        }
    }
}

/// `GET /dump`: both caches as text, streamed.
pub(super) fn dump(resolver: &Arc<RunningResolver>) -> Response<Body> {
    let (chunks, mut receiver) = tokio::sync::mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    let resolver = Arc::clone(resolver);
    tokio::task::spawn_blocking(move || {
        write_dump(&resolver.recursor, |chunk| {
            chunks.blocking_send(Bytes::from(chunk)).is_ok()
        });
    });
    let stream = futures::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok::<_, Infallible>(Frame::data(bytes))))
    });
    let mut response = Response::new(UnsyncBoxBody::new(StreamBody::new(stream)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Walks both caches, handing the text to `send` in chunks of about [`CHUNK_BYTES`]; stops
/// early when `send` says the reader is gone.
pub(super) fn write_dump(recursor: &Recursor, mut send: impl FnMut(String) -> bool) {
    let now = tokio::time::Instant::now();
    let mut text = String::with_capacity(CHUNK_BYTES + 4096);
    let mut entries = 0u64;
    let sections: [(&str, Box<dyn Iterator<Item = CacheView> + '_>); 2] = [
        (
            "record cache (infrastructure and answers for every client)",
            Box::new(recursor.cache().views(now)),
        ),
        (
            "tailored cache (answers per client subnet, ECS)",
            Box::new(recursor.scoped_cache().views(now)),
        ),
    ];
    for (title, views) in sections {
        let _ = writeln!(text, "; {title}");
        for view in views {
            write_view(&view, &mut text);
            entries += 1;
            if text.len() >= CHUNK_BYTES && !send(std::mem::take(&mut text)) {
                return;
            }
        }
    }
    let _ = writeln!(text, "; {entries} entries");
    send(text);
}

/// A whole response as a [`Body`].
pub(super) fn boxed(response: Response<Full<Bytes>>) -> Response<Body> {
    response.map(UnsyncBoxBody::new)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    use scoped_cache::{CacheConfig, RecordCache, Trust};
    use scoped_recursor::{NetTransport, RecursorConfig};

    use super::*;

    fn recursor_with(names: u32) -> Recursor {
        let recursor = Recursor::new(
            RecursorConfig::default(),
            RecordCache::new(CacheConfig::default()),
            Arc::new(NetTransport::new(&[])),
        );
        let now = tokio::time::Instant::now();
        for i in 0..names {
            let owner = Name::from_ascii(format!("host-{i}.example.")).unwrap();
            let record = Record::from_rdata(owner, 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))));
            recursor
                .cache()
                .insert_rrset(vec![record], Trust::Answer, now);
        }
        recursor
    }

    #[test]
    fn the_dump_comes_in_bounded_chunks_and_stops_when_the_reader_is_gone() {
        let recursor = recursor_with(3_000);
        let mut chunks = Vec::new();
        write_dump(&recursor, |chunk| {
            chunks.push(chunk);
            true
        });
        assert!(chunks.len() > 2, "{} chunks", chunks.len());
        assert!(chunks.iter().all(|c| c.len() < CHUNK_BYTES + 1024));
        let text = chunks.concat();
        assert_eq!(text.lines().filter(|l| l.contains(" IN A ")).count(), 3_000);
        assert!(text.contains("host-2999.example. 300 IN A 192.0.2.1 ; ttl-left=300 trust=Answer"));
        assert!(
            text.ends_with("; 3000 entries\n"),
            "{}",
            &text[text.len() - 100..]
        );

        let mut calls = 0;
        write_dump(&recursor, |_| {
            calls += 1;
            false
        });
        assert_eq!(calls, 1, "the walk stops at the first refused chunk");
    }

    #[test]
    fn lookup_parameters_are_checked() {
        let (name, rtype) = lookup_params("name=WWW.Example.com&type=aaaa").unwrap();
        assert_eq!(name.to_string(), "WWW.Example.com.");
        assert_eq!(rtype, Some(RecordType::AAAA));
        assert_eq!(lookup_params("name=a.example").unwrap().1, None);
        assert!(lookup_params("type=A").unwrap_err().contains("missing"));
        assert!(lookup_params("name=a.example&type=BOGUS").is_err());
        assert!(lookup_params("name=a.example&subtree=1").is_err());
    }
}
