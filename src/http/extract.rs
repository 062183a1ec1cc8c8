//! Turning raw requests into data: bodies under a limit, strict form and query parsing, content types,
//! and who the client is (through trusted proxies only).
//!
//! Forms and query strings are parsed here rather than with `serde_urlencoded` because we must refuse
//! what it silently accepts: percent-encoded bytes that are not UTF-8 (it substitutes U+FFFD, so a
//! stored name would not be what was sent) and fields given twice (it keeps one of them).

use std::{
    borrow::Cow,
    net::{IpAddr, SocketAddr},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use axum::BoxError;
use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, header, request::Parts},
};
use ipnet::IpNet;

use super::{
    AppState,
    error::{ApiError, FieldError, HtmlError},
};
use crate::{
    config::MinTransferRate,
    storage::{Cursor, PageLimit, PageRequest},
};

/// The largest form or JSON body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Reads a whole body, refusing it with 413 past `limit` (at once when `Content-Length` says so).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut too_large = false;
        while let Some(current) = cause {
            too_large |= current.is::<http_body_util::LengthLimitError>();
            cause = current.source();
        }
        if too_large {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest("The request body could not be read.".into())
        }
    })
}

/// The media types a handler accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json` (any `+json` suffix too).
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// Refuses with 415 unless `Content-Type` is `expected` (parameters such as `charset=utf-8` allowed).
pub fn require_content_type(headers: &HeaderMap, expected: MediaType) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let ok = match (&essence, expected) {
        (Some(t), MediaType::Json) => {
            t == "application/json" || (t.starts_with("application/") && t.ends_with("+json"))
        }
        (Some(t), MediaType::Form) => t == "application/x-www-form-urlencoded",
        (None, _) => false,
    };
    if ok {
        return Ok(());
    }
    let wanted = match expected {
        MediaType::Json => "application/json",
        MediaType::Form => "application/x-www-form-urlencoded",
    };
    Err(ApiError::UnsupportedMediaType(match essence {
        Some(found) => format!("Content-Type must be {wanted}, not {found}."),
        None => format!("Content-Type must be {wanted}; the request had none."),
    }))
}

/// Fields of a form body or query string, each name at most once, borrowed from the text where nothing
/// needed decoding.
///
/// A list, not a map: these forms have a handful of fields, a scan of a few is cheaper than hashing each
/// name, and [`MAX_FIELDS`] keeps the duplicate check's scans bounded whatever a client sends.
#[derive(Debug, Default)]
pub struct Fields<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

/// The most fields a form or query string may have: every form here has fewer than 15.
pub const MAX_FIELDS: usize = 64;

impl<'a> Fields<'a> {
    /// Parses `application/x-www-form-urlencoded` text strictly: every name and value must decode to
    /// UTF-8, no name may repeat, and there are at most [`MAX_FIELDS`].
    pub fn parse(raw: &'a [u8]) -> Result<Self, ApiError> {
        let mut fields = Vec::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if fields.len() == MAX_FIELDS {
                return Err(ApiError::BadRequest(format!(
                    "There are more than {MAX_FIELDS} fields; this form has far fewer."
                )));
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode_component(name).ok_or_else(|| {
                ApiError::BadRequest("A field name is not valid UTF-8 text.".into())
            })?;
            let value = decode_component(value).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "The field `{}` is not valid UTF-8 text.",
                    printable(&name)
                ))
            })?;
            if fields.iter().any(|(seen, _)| *seen == name) {
                return Err(ApiError::BadRequest(format!(
                    "The field `{}` was sent more than once.",
                    printable(&name)
                )));
            }
            fields.push((name, value));
        }
        Ok(Self(fields))
    }

    /// The same fields, owning their text (to outlive the bytes they were parsed from).
    pub fn into_owned(self) -> Fields<'static> {
        Fields(
            self.0
                .into_iter()
                .map(|(name, value)| {
                    (
                        Cow::Owned(name.into_owned()),
                        Cow::Owned(value.into_owned()),
                    )
                })
                .collect(),
        )
    }

    /// A field's value, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_ref())
    }
}

/// `+` is a space, then percent-decoding; `None` when the bytes are not UTF-8. Text with neither is
/// borrowed as it is.
fn decode_component(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.iter().any(|b| matches!(b, b'+' | b'%')) {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let decoded: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(decoded).ok().map(Cow::Owned)
}

/// A field name safe to quote back in a message.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// Who is asking, as far as we can believe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientContext {
    /// The client's address: the peer, or the first untrusted hop of `X-Forwarded-For` when the peer is
    /// a trusted proxy.
    pub ip: Option<IpAddr>,
    /// Whether the client used HTTPS (believed from `X-Forwarded-Proto` only through a trusted proxy).
    pub https: bool,
}

impl ClientContext {
    /// Reads the peer address and, through trusted proxies only, the forwarding headers.
    pub fn from_request(request: &Request, proxies: &[IpNet]) -> Self {
        Self::from_parts_ref(
            request.headers(),
            request.extensions().get::<ConnectInfo<SocketAddr>>(),
            proxies,
        )
    }

    fn from_parts_ref(
        headers: &HeaderMap,
        peer: Option<&ConnectInfo<SocketAddr>>,
        proxies: &[IpNet],
    ) -> Self {
        let peer = peer.map(|ConnectInfo(addr)| addr.ip());
        let trusted = |ip: &IpAddr| proxies.iter().any(|net| net.contains(ip));
        let Some(peer_ip) = peer.filter(|ip| trusted(ip)) else {
            return Self {
                ip: peer,
                https: false,
            };
        };
        let https = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        // Walk X-Forwarded-For from the right: the first address not of a trusted proxy is the client.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        let ip = forwarded
            .iter()
            .rev()
            .find(|ip| !trusted(ip))
            .copied()
            .or(Some(peer_ip));
        Self { ip, https }
    }
}

impl FromRequestParts<AppState> for ClientContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts_ref(
            &parts.headers,
            parts.extensions.get::<ConnectInfo<SocketAddr>>(),
            &state.proxies,
        ))
    }
}

/// Why [`paced`] cut a body off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyCut {
    /// No byte arrived for this long.
    #[error("no data arrived for {0:?}")]
    Stalled(Duration),
    /// A window of waiting for the client brought fewer bytes than the minimum rate asks.
    #[error(
        "less than {} bytes per second arrived over {:?}",
        .0.bytes_per_second,
        .0.window
    )]
    TooSlow(MinTransferRate),
}

/// How long [`paced`] has waited for the client in the current window, and what came in it.
#[derive(Debug)]
struct Pace<S> {
    stream: S,
    waited: Duration,
    bytes: u64,
}

/// The body as a stream that ends with an error, and records why in `cut` (so the handler can answer
/// 408 however the error was wrapped on its way up), when
/// - no byte arrives for `idle` (a client that stopped sending), or
/// - `min_rate` is given and a window of time spent waiting for the client brings fewer bytes than it
///   asks (a slowloris that sends a byte every few seconds, never idle for long). The first window is the
///   grace period every upload gets.
///
/// Only time spent waiting for the client counts towards a window: while the handler is busy (writing to
/// the object store, say) the body is not read, and that is not the client's slowness.
pub fn paced(
    body: Body,
    idle: Duration,
    min_rate: Option<MinTransferRate>,
    cut: Arc<OnceLock<BodyCut>>,
) -> impl futures_util::Stream<Item = Result<Bytes, BoxError>> + Send + 'static {
    let start = Pace {
        stream: body.into_data_stream(),
        waited: Duration::ZERO,
        bytes: 0,
    };
    futures_util::stream::unfold(Some(start), move |pace| {
        let cut = Arc::clone(&cut);
        async move {
            let mut pace = pace?;
            let stop = |why: BodyCut| {
                let _ = cut.set(why);
                Some((Err(BoxError::from(why)), None))
            };
            let mut since = Instant::now();
            let idle_at = since + idle;
            loop {
                let window_end =
                    min_rate.map(|rate| since + rate.window.saturating_sub(pace.waited));
                let wake = window_end.map_or(idle_at, |end| end.min(idle_at));
                match tokio::time::timeout_at(
                    wake.into(),
                    futures_util::StreamExt::next(&mut pace.stream),
                )
                .await
                {
                    Ok(Some(Ok(chunk))) => {
                        pace.waited += since.elapsed();
                        pace.bytes += chunk.len() as u64;
                        if let Some(rate) = min_rate
                            && pace.waited >= rate.window
                        {
                            if pace.bytes < rate.bytes_per_window() {
                                return stop(BodyCut::TooSlow(rate));
                            }
                            pace.waited = Duration::ZERO;
                            pace.bytes = 0;
                        }
                        return Some((Ok(chunk), Some(pace)));
                    }
                    Ok(Some(Err(err))) => return Some((Err(BoxError::from(err)), None)),
                    Ok(None) => return None,
                    Err(_) => {
                        let now = Instant::now();
                        if now >= idle_at {
                            return stop(BodyCut::Stalled(idle));
                        }
                        // A window ended while waiting: judge it, then wait on in a new one.
                        if let Some(rate) = min_rate {
                            if pace.bytes < rate.bytes_per_window() {
                                return stop(BodyCut::TooSlow(rate));
                            }
                            pace.waited = Duration::ZERO;
                            pace.bytes = 0;
                        }
                        since = now;
                    }
                }
            }
        }
    })
}

/// A JSON object body the API takes: `Content-Type: application/json`, at most [`MAX_BODY_BYTES`], an
/// object (not an array that serde would also accept for a struct), parsed into `T`. Malformed JSON is
/// 400; well-formed JSON of the wrong shape is 422 with a sentence saying what was expected.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// A type a [`JsonBody`] holds.
pub trait JsonObject: serde::de::DeserializeOwned {
    /// The sentence for a body that is JSON but not an object.
    const SHAPE: &'static str;

    /// The sentence for an object serde could not read as `Self`; by default serde's own words.
    fn data_error(err: &serde_json::Error) -> String {
        let text = err.to_string();
        let text = text.split(" at line ").next().unwrap_or(&text);
        let mut chars = text.chars();
        match chars.next() {
            Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
            None => Self::SHAPE.to_owned(),
        }
    }
}

impl<S: Send + Sync, T: JsonObject> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        require_content_type(&parts.headers, MediaType::Json)?;
        let bytes = read_body(&parts.headers, body, MAX_BODY_BYTES).await?;
        if bytes.trim_ascii_start().first() != Some(&b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok()
        {
            return Err(ApiError::Validation(vec![FieldError::new(
                "body",
                T::SHAPE,
            )]));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|err| match err.classify() {
                serde_json::error::Category::Data => {
                    ApiError::Validation(vec![FieldError::new("body", T::data_error(&err))])
                }
                _ => ApiError::BadRequest(format!(
                    "The body is not valid JSON (line {}, column {}).",
                    err.line(),
                    err.column()
                )),
            })
    }
}

/// A page's form post, checked before its fields are handed over: not cross-site, form-encoded, at most
/// [`MAX_BODY_BYTES`], well-formed fields, and the CSRF token this browser was given. The fields borrow
/// from the body ([`CheckedForm::fields`]), as [`Fields::parse`] does.
#[derive(Debug)]
pub struct CheckedForm(Bytes);

impl CheckedForm {
    /// The fields (parsed again from the body they were checked in: a form is a few hundred bytes).
    pub fn fields(&self) -> Fields<'_> {
        // The same bytes parsed without error in `from_request`, so this cannot fail.
        Fields::parse(&self.0).unwrap_or_default()
    }
}

impl FromRequest<AppState> for CheckedForm {
    type Rejection = HtmlError;

    async fn from_request(request: Request, _state: &AppState) -> Result<Self, HtmlError> {
        let (headers, bytes) = read_form(request, MAX_BODY_BYTES).await?;
        super::csrf::verify(&headers, Fields::parse(&bytes)?.get("csrf_token"))?;
        Ok(Self(bytes))
    }
}

/// A form post's headers and body, its fields checked to parse, the CSRF token not yet checked (the
/// caller decides what a stale token means): not cross-site, form-encoded, at most `limit` bytes.
pub(crate) async fn read_form(
    request: Request,
    limit: usize,
) -> Result<(HeaderMap, Bytes), HtmlError> {
    let (parts, body) = request.into_parts();
    super::csrf::refuse_cross_site(&parts.headers)?;
    require_content_type(&parts.headers, MediaType::Form)?;
    let bytes = read_body(&parts.headers, body, limit).await?;
    Fields::parse(&bytes)?;
    Ok((parts.headers, bytes))
}

/// `limit` and `cursor` from a query.
pub(crate) fn page_request(fields: &Fields) -> Result<PageRequest, ApiError> {
    let limit = fields
        .get("limit")
        .map(PageLimit::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let cursor = fields
        .get("cursor")
        .map(Cursor::parse)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(PageRequest {
        limit: limit.unwrap_or_default(),
        cursor,
    })
}

#[cfg(test)]
mod tests;
