//! JSON log lines, one object per event, written without a detour through `serde_json::Value`.
//!
//! tracing-subscriber's own JSON format keeps each span's fields as JSON text and parses that text back
//! into a `serde_json::Value` for every event inside the span, then serializes it again: per request (one
//! span, one "request finished" event) that round trip, its allocations and the timestamp formatting
//! showed in the read routes' profiles. Here a span's fields are kept as a ready JSON fragment
//! (`"method":"GET","route":"/"`), and an event is written straight into the output buffer.
//!
//! A request's id, method, route, path and trace context come from its task-local context
//! (`super::request`), not from a span, and are written at the top level of the line (tests/api/process.rs
//! and tests/api/observability.rs check it):
//! `{"timestamp":"2026-11-23T16:27:20.916584Z","level":"INFO","message":"...",<fields>,
//! "target":"stratus::http::middleware","request_id":"..","method":"GET","route":"/","path":"/",
//! "trace_id":"<32 hex>","traceparent":"00-..-..-01"}`, plus `"span":{<span fields>,"name":..}` for a line
//! inside a span of its own.

use std::fmt::{self, Write as _};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    registry::LookupSpan,
};

use crate::time::write_timestamp;

/// Span fields as a JSON object's members, without the braces.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Members::new(writer, false);
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let had_members = !current.fields.is_empty();
        let mut visitor = Members::new(current.as_writer(), had_members);
        fields.record(&mut visitor);
        visitor.result
    }
}

/// The event formatter: one JSON object per line.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut writer, time::OffsetDateTime::now_utc())?;
        writer.write_str("\",\"level\":\"")?;
        writer.write_str(meta.level().as_str())?;
        writer.write_char('"')?;
        let mut members = Members::new(writer.by_ref(), true);
        event.record(&mut members);
        members.result?;
        writer.write_str(",\"target\":")?;
        write_json_str(&mut writer, meta.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        // The request's context (`super::request`) at the top level of the line, where log tools look for
        // a request id; a span (an instrumented function inside the request, or any span outside one)
        // keeps its own object.
        super::request::with_current(|request| {
            writer.write_str(",\"request_id\":")?;
            write_json_str(&mut writer, &request.request_id)?;
            writer.write_str(",\"method\":")?;
            write_json_str(&mut writer, request.method.as_str())?;
            writer.write_str(",\"route\":")?;
            write_json_str(&mut writer, request.route())?;
            writer.write_str(",\"path\":")?;
            write_json_str(&mut writer, request.path())?;
            // Hex digits and dashes only: nothing to escape.
            writer.write_str(",\"trace_id\":\"")?;
            writer.write_str(request.trace.trace_id())?;
            writer.write_str("\",\"traceparent\":\"")?;
            writer.write_str(request.trace.traceparent())?;
            writer.write_char('"')?;
            if let Some(amzn) = request.trace.amzn_trace_id_str() {
                writer.write_str(",\"amzn_trace_id\":")?;
                write_json_str(&mut writer, amzn)?;
            }
            Ok::<_, fmt::Error>(())
        })
        .transpose()?;
        if let Some(span) = span {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            if let Some(fields) = extensions
                .get::<FormattedFields<N>>()
                .filter(|f| !f.fields.is_empty())
            {
                writer.write_str(&fields.fields)?;
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            write_json_str(&mut writer, span.name())?;
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

/// Writes `,"name":value` (or `"name":value` first) for each field recorded.
struct Members<'a> {
    writer: Writer<'a>,
    comma: bool,
    result: fmt::Result,
}

impl<'a> Members<'a> {
    fn new(writer: Writer<'a>, comma: bool) -> Self {
        Self {
            writer,
            comma,
            result: Ok(()),
        }
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'a>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if self.comma {
                self.writer.write_char(',')?;
            }
            self.comma = true;
            // Field names are identifiers from the source (`status`, `error.message`): nothing to escape.
            self.writer.write_char('"')?;
            self.writer.write_str(field.name())?;
            self.writer.write_str("\":")?;
            value(&mut self.writer)
        })();
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| write_json_str(w, value));
    }

    // Numbers go through itoa and ryu rather than `fmt`: every request's line has a status and a latency,
    // and `fmt`'s machinery for them showed in the profile.
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| w.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| {
            if value.is_finite() {
                w.write_str(ryu::Buffer::new().format_finite(value))
            } else {
                w.write_str("null")
            }
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |w| write_json_display(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            w.write_char('"')?;
            write!(Escaping(&mut *w), "{value:?}")?;
            w.write_char('"')
        });
    }
}

fn write_json_str(w: &mut impl fmt::Write, text: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaping(&mut *w).write_str(text)?;
    w.write_char('"')
}

fn write_json_display(w: &mut impl fmt::Write, value: &dyn fmt::Display) -> fmt::Result {
    w.write_char('"')?;
    write!(Escaping(&mut *w), "{value}")?;
    w.write_char('"')
}

/// Escapes what JSON strings may not hold raw: quotes, backslashes and control characters.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Byte by byte: everything that needs escaping is ASCII, and no byte of a multi-byte character is,
        // so each index found is a character boundary and the text between is written in one piece.
        // Most text needs nothing escaped: one quick scan, one write.
        if !text
            .bytes()
            .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        {
            return self.0.write_str(text);
        }
        let mut start = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escaped = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[start..at])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escaped)?;
            }
            start = at + 1;
        }
        self.0.write_str(&text[start..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{fmt::MakeWriter, layer::SubscriberExt as _};

    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut out) = self.0.lock() {
                out.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Self;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines_of(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let sink = Sink::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonFields)
                .event_format(JsonLines)
                .with_writer(sink.clone()),
        );
        tracing::subscriber::with_default(subscriber, log);
        let text = sink.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&text)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
            .collect()
    }

    #[test]
    fn events_are_json_objects_with_their_span() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("request", method = "GET", route = "/a \"b\"", n = 3);
            let _entered = span.enter();
            tracing::info!(
                status = 200u16,
                latency_ms = 1.5,
                ok = true,
                "request finished"
            );
            span.record("n", 4);
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "request finished");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["status"], 200);
        assert_eq!(line["latency_ms"], 1.5);
        assert_eq!(line["ok"], true);
        assert_eq!(line["span"]["method"], "GET");
        assert_eq!(line["span"]["route"], "/a \"b\"");
        assert_eq!(line["span"]["name"], "request");
        assert!(
            line["timestamp"]
                .as_str()
                .is_some_and(|t| t.len() == 27 && t.ends_with('Z')),
            "{line}"
        );
        assert!(
            line["target"]
                .as_str()
                .is_some_and(|t| t.contains("json_lines"))
        );
    }

    proptest::proptest! {
        /// Whatever the text (control characters, quotes, backslashes, any Unicode), the string written is
        /// JSON that reads back as that text.
        #[test]
        fn any_text_is_written_as_a_json_string_of_itself(text in "\\PC*|[\\x00-\\x7f]*") {
            let mut json = String::new();
            proptest::prop_assert!(write_json_str(&mut json, &text).is_ok());
            proptest::prop_assert_eq!(serde_json::from_str::<String>(&json).ok(), Some(text));
        }
    }

    #[test]
    fn control_characters_quotes_and_debug_values_are_escaped() {
        let lines = lines_of(|| {
            let error = std::io::Error::other("bad\nthing \"quoted\"");
            tracing::warn!(error = &error as &dyn std::error::Error, weird = "\u{1}\t\\", list = ?vec!["a\"b"], nan = f64::NAN, "odd \u{7f} text");
        });
        let line = &lines[0];
        assert_eq!(line["error"], "bad\nthing \"quoted\"");
        assert_eq!(line["weird"], "\u{1}\t\\");
        assert_eq!(line["list"], "[\"a\\\"b\"]");
        assert!(line["nan"].is_null());
        assert_eq!(line["message"], "odd \u{7f} text");
        assert!(line.get("span").is_none());
    }

    #[test]
    fn lines_inside_a_request_carry_its_id_method_route_path_and_trace_at_the_top() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "traceparent",
            axum::http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        let request = super::super::request::RequestContext {
            request_id: "req-1".into(),
            instance: "i-1".into(),
            method: axum::http::Method::POST,
            route: None,
            uri: axum::http::Uri::from_static("/no/such?secret=1"),
            trace: super::super::trace::TraceContext::from_headers(&headers),
        };
        let lines = lines_of(|| {
            super::super::request::sync_scope(request, || {
                tracing::info!(status = 201u16, "request finished");
                let span = tracing::info_span!("Storing a post", slug = "a\"b");
                let _entered = span.enter();
                tracing::warn!("inside a function's span");
            });
            tracing::info!("after the request");
        });
        assert_eq!(lines.len(), 3);
        let line = &lines[0];
        assert_eq!(line["method"], "POST");
        assert_eq!(line["route"], "unmatched");
        assert_eq!(line["path"], "/no/such", "never the query");
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            line["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert!(line.get("amzn_trace_id").is_none());
        assert!(line.get("span").is_none(), "{line}");
        assert_eq!(line["status"], 201);
        // An instrumented function inside the request: its span's name and fields, and still the request.
        assert_eq!(lines[1]["request_id"], "req-1");
        let span = &lines[1]["span"];
        assert_eq!(span["slug"], "a\"b");
        assert_eq!(span["name"], "Storing a post");
        assert!(lines[2].get("span").is_none(), "{}", lines[2]);
        assert!(lines[2].get("request_id").is_none(), "{}", lines[2]);
    }

    #[test]
    fn fields_recorded_later_join_the_span() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("request", a = 1, b = tracing::field::Empty);
            span.record("b", "two");
            let _entered = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(lines[0]["span"]["a"], 1);
        assert_eq!(lines[0]["span"]["b"], "two");
    }
}
