//! Trace context: the W3C `traceparent` and the ALB's `X-Amzn-Trace-Id`.
//!
//! Every request gets a `traceparent`: the one it came with when that is valid; else one built from the
//! ALB's `X-Amzn-Trace-Id` (its `Root` is a trace id: `1-5759e988-bd862e3fe1be46a994272793` is
//! `5759e988bd862e3fe1be46a994272793`, as the X-Ray propagators read it); else a fresh random one. Its
//! trace id is written on every log line of the request, and the header is returned on the response, so
//! a client, the load balancer's logs and ours can be joined on one id. No allocation: the value is 55
//! bytes kept inline.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// `traceparent` (W3C Trace Context).
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// `X-Amzn-Trace-Id` (set by the ALB).
pub static X_AMZN_TRACE_ID: HeaderName = HeaderName::from_static("x-amzn-trace-id");

/// The length of a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`.
const LEN: usize = 55;
/// The longest `X-Amzn-Trace-Id` kept; the ALB's own are under 100 bytes.
const MAX_AMZN_LEN: usize = 256;

/// A request's trace context.
#[derive(Debug, Clone)]
pub struct TraceContext {
    traceparent: [u8; LEN],
    /// The `X-Amzn-Trace-Id` the request came with, when it looks like one.
    amzn: Option<HeaderValue>,
}

impl TraceContext {
    /// The context of a request with these headers (see the module documentation).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let amzn = single(headers, &X_AMZN_TRACE_ID)
            .filter(|value| acceptable_amzn(value.as_bytes()))
            .cloned();
        let traceparent = single(headers, &TRACEPARENT)
            .and_then(|value| parse_traceparent(value.as_bytes()))
            .or_else(|| amzn.as_ref().and_then(|v| from_amzn(v.as_bytes())))
            .unwrap_or_else(fresh);
        Self { traceparent, amzn }
    }

    /// The `traceparent` value: `00-<trace id>-<parent id>-<flags>`.
    pub fn traceparent(&self) -> &str {
        // Only ever filled with ASCII hex digits and dashes.
        std::str::from_utf8(&self.traceparent).unwrap_or_default()
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        self.traceparent().get(3..35).unwrap_or_default()
    }

    /// The `traceparent` header to return.
    pub fn traceparent_header(&self) -> Option<HeaderValue> {
        HeaderValue::from_bytes(&self.traceparent).ok()
    }

    /// The `X-Amzn-Trace-Id` the request came with, if any (returned as it came).
    pub fn amzn_trace_id(&self) -> Option<&HeaderValue> {
        self.amzn.as_ref()
    }

    /// The same as text, for the log line.
    pub fn amzn_trace_id_str(&self) -> Option<&str> {
        self.amzn.as_ref().and_then(|value| value.to_str().ok())
    }
}

/// The header's value when it is there exactly once (W3C: several `traceparent` headers are invalid).
fn single<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

fn is_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn not_zero(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| b != b'0')
}

/// A valid `traceparent`, per W3C Trace Context level 1: lowercase hex, trace and parent ids not all
/// zero, version not `ff`; a later version may append `-...`, which is dropped.
fn parse_traceparent(value: &[u8]) -> Option<[u8; LEN]> {
    let head = value.get(..LEN)?;
    let (version, rest) = head.split_at(2);
    let ok = is_hex(version)
        && version != b"ff"
        && (value.len() == LEN || (version != b"00" && value[LEN] == b'-'))
        && rest[0] == b'-'
        && is_hex(&rest[1..33])
        && not_zero(&rest[1..33])
        && rest[33] == b'-'
        && is_hex(&rest[34..50])
        && not_zero(&rest[34..50])
        && rest[50] == b'-'
        && is_hex(&rest[51..53]);
    let mut out = [0u8; LEN];
    out.copy_from_slice(head);
    ok.then_some(out)
}

/// An `X-Amzn-Trace-Id` worth logging and returning: short, and only the characters its
/// `Key=value;...` fields use (nothing that could forge a log line or a header).
fn acceptable_amzn(value: &[u8]) -> bool {
    (1..=MAX_AMZN_LEN).contains(&value.len())
        && value.iter().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'=' | b';' | b'-' | b'_' | b'.' | b':' | b' ')
        })
}

/// A `traceparent` from an `X-Amzn-Trace-Id` with a `Root=1-<8 hex>-<24 hex>`: its `Parent` when that is
/// 16 hex digits (else a fresh one), sampled unless `Sampled=0`.
fn from_amzn(value: &[u8]) -> Option<[u8; LEN]> {
    let (mut root, mut parent, mut sampled) = (None, None, true);
    for field in value.split(|&b| b == b';') {
        let field = field.trim_ascii();
        if let Some(v) = field.strip_prefix(b"Root=") {
            root = Some(v);
        } else if let Some(v) = field.strip_prefix(b"Parent=") {
            parent = Some(v);
        } else if let Some(v) = field.strip_prefix(b"Sampled=") {
            sampled = v != b"0";
        }
    }
    let root = root?.to_ascii_lowercase();
    // `1-` + 8 hex (seconds) + `-` + 24 hex.
    if root.len() != 35 || &root[..2] != b"1-" || root[10] != b'-' {
        return None;
    }
    let (time, unique) = (&root[2..10], &root[11..35]);
    if !is_hex(time) || !is_hex(unique) || !(not_zero(time) || not_zero(unique)) {
        return None;
    }
    let mut out = fresh();
    out[3..11].copy_from_slice(time);
    out[11..35].copy_from_slice(unique);
    if let Some(parent) = parent.map(<[u8]>::to_ascii_lowercase)
        && parent.len() == 16
        && is_hex(&parent)
        && not_zero(&parent)
    {
        out[36..52].copy_from_slice(&parent);
    }
    if !sampled {
        out[54] = b'0';
    }
    Some(out)
}

/// A fresh `traceparent`: random trace and parent ids from the thread's CSPRNG, sampled.
fn fresh() -> [u8; LEN] {
    let mut random = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    // A random id of all zeros (invalid) has odds of 2^-64 at worst; make it impossible anyway.
    random[15] |= 1;
    random[23] |= 1;
    let mut out = *b"00-00000000000000000000000000000000-0000000000000000-01";
    hex_into(&random[..16], &mut out[3..35]);
    hex_into(&random[16..], &mut out[36..52]);
    out
}

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(headers: &[(&HeaderName, &str)]) -> TraceContext {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                (*name).clone(),
                HeaderValue::from_str(value).expect("a value"),
            );
        }
        TraceContext::from_headers(&map)
    }

    fn is_fresh_shape(traceparent: &str) -> bool {
        parse_traceparent(traceparent.as_bytes()).is_some()
            && traceparent.starts_with("00-")
            && traceparent.ends_with("-01")
    }

    #[test]
    fn a_valid_traceparent_is_kept() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = context(&[(&TRACEPARENT, value)]);
        assert_eq!(trace.traceparent(), value);
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // A later version's extra fields are dropped.
        let later = context(&[(
            &TRACEPARENT,
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra",
        )]);
        assert_eq!(
            later.traceparent(),
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        );
    }

    #[test]
    fn an_invalid_traceparent_is_replaced_by_a_fresh_one() {
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            let trace = context(&[(&TRACEPARENT, bad)]);
            assert!(is_fresh_shape(trace.traceparent()), "{bad}");
            assert!(!trace.traceparent().contains("4bf92f35"), "{bad}");
        }
    }

    #[test]
    fn fresh_ids_have_the_w3c_shape_and_differ() {
        let (a, b) = (context(&[]), context(&[]));
        assert!(is_fresh_shape(a.traceparent()), "{}", a.traceparent());
        assert_ne!(a.trace_id(), b.trace_id());
        assert_eq!(a.traceparent().len(), 55);
        assert!(a.amzn_trace_id().is_none());
    }

    #[test]
    fn the_albs_root_becomes_the_trace_id_and_the_header_is_kept() {
        let amzn = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let trace = context(&[(&X_AMZN_TRACE_ID, amzn)]);
        assert_eq!(
            trace.traceparent(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert_eq!(trace.amzn_trace_id_str(), Some(amzn));
        // Without a parent: a fresh one; `Sampled=0` clears the flag; `Self=` from a second ALB is fine.
        let trace = context(&[(
            &X_AMZN_TRACE_ID,
            "Self=1-67891234-12456789abcdef012345678;Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
        )]);
        assert_eq!(trace.trace_id(), "5759e988bd862e3fe1be46a994272793");
        assert!(trace.traceparent().ends_with("-00"));
        // A valid traceparent wins over the ALB's id.
        let both = context(&[
            (&X_AMZN_TRACE_ID, amzn),
            (
                &TRACEPARENT,
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]);
        assert_eq!(both.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(both.amzn_trace_id().is_some());
    }

    #[test]
    fn strange_alb_ids_are_dropped() {
        let long = format!("Root={}", "a".repeat(300));
        for bad in ["Root=\"x\"", "a\tb", long.as_str()] {
            let trace = context(&[(&X_AMZN_TRACE_ID, bad)]);
            assert!(trace.amzn_trace_id().is_none(), "{bad}");
            assert!(is_fresh_shape(trace.traceparent()));
        }
        // Kept but without a usable root: a fresh trace id.
        let trace = context(&[(&X_AMZN_TRACE_ID, "Root=1-zz-yy")]);
        assert!(trace.amzn_trace_id().is_some());
        assert!(is_fresh_shape(trace.traceparent()));
    }
}
