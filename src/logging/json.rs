//! The JSON log line: `{"timestamp", "level", "fields": {...}, "target"}`, one object per
//! event, with every field typed: numbers and booleans as JSON numbers and booleans, and a list
//! (a field recorded with `?` from a `Vec` or slice, e.g. `keys = ?needs_restart`) as a JSON
//! array, not as the text of one. tracing-subscriber's own JSON format writes every `?` field
//! as a string.

use std::fmt;

use serde_json::{Map, Number, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats each event as one JSON object on a line.
pub(super) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        writeln!(writer, "{}", event_json(event))
    }
}

/// The object of one event.
fn event_json(event: &Event<'_>) -> Value {
    let mut timestamp = String::new();
    // SystemTime writes RFC 3339 in UTC; it cannot fail into a String.
    let _ = SystemTime.format_time(&mut Writer::new(&mut timestamp));
    let mut fields = TypedFields(Map::new());
    event.record(&mut fields);
    let meta = event.metadata();
    let mut line = Map::new();
    line.insert("timestamp".into(), Value::String(timestamp));
    line.insert("level".into(), Value::String(meta.level().as_str().into()));
    line.insert("fields".into(), Value::Object(fields.0));
    line.insert("target".into(), Value::String(meta.target().into()));
    Value::Object(line)
}

/// Collects an event's fields as typed JSON values.
struct TypedFields(Map<String, Value>);

impl TypedFields {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for TypedFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    /// `?value`: a list whose `Debug` text is a JSON array (a `Vec` of strings or numbers) is
    /// kept as the array; anything else, and the message, as its text.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        let value = match field.name() {
            "message" => Value::String(text),
            _ if text.starts_with('[') => match serde_json::from_str::<Value>(&text) {
                Ok(array @ Value::Array(_)) => array,
                _ => Value::String(text),
            },
            _ => Value::String(text),
        };
        self.put(field, value);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fields_keep_their_types_and_lists_are_arrays() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(move || sink.clone()),
        );
        let keys = vec!["server.threads".to_owned(), "cache.max-size".to_owned()];
        let none: Vec<String> = Vec::new();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                entries = 3u64,
                ratio = 0.5,
                on = true,
                file = "/etc/scoped/resolver.toml",
                keys = ?keys,
                empty = ?none,
                addr = ?"127.0.0.1:53",
                "[not] a list: {}",
                1
            );
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        let fields = &line["fields"];
        assert_eq!(line["level"], "WARN");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        assert_eq!(fields["entries"], 3);
        assert_eq!(fields["ratio"], 0.5);
        assert_eq!(fields["on"], true);
        assert_eq!(fields["file"], "/etc/scoped/resolver.toml");
        assert_eq!(
            fields["keys"],
            serde_json::json!(["server.threads", "cache.max-size"])
        );
        assert_eq!(fields["empty"], serde_json::json!([]));
        assert_eq!(fields["addr"], "\"127.0.0.1:53\"");
        assert_eq!(fields["message"], "[not] a list: 1");
        assert_eq!(text.lines().count(), 1);
    }
}
