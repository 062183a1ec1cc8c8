//! Unit tests of `extract`.

use super::*;
use axum::http::HeaderValue;

/// A body whose chunks each come after a pause.
fn timed_body(pause: Duration, chunk: &'static [u8], count: usize) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        count,
        move |left| async move {
            if left == 0 {
                return None;
            }
            tokio::time::sleep(pause).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(chunk)), left - 1))
        },
    ))
}

/// Reads a paced body to its end: the bytes, or the error, and why it was cut.
async fn read_paced(
    body: Body,
    idle: Duration,
    rate: Option<MinTransferRate>,
) -> (Result<u64, String>, Option<BodyCut>) {
    let cut = Arc::new(OnceLock::new());
    let mut stream = std::pin::pin!(paced(body, idle, rate, Arc::clone(&cut)));
    let mut total = 0;
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        match chunk {
            Ok(bytes) => total += bytes.len() as u64,
            Err(err) => return (Err(err.to_string()), cut.get().copied()),
        }
    }
    (Ok(total), cut.get().copied())
}

#[tokio::test]
async fn a_body_below_the_minimum_rate_is_cut_and_a_brisk_or_unjudged_one_is_not() {
    let rate = MinTransferRate::new(1000, Duration::from_millis(200))
        .ok()
        .flatten()
        .expect("a rate");
    let idle = Duration::from_secs(5);
    // 10 bytes every 20 ms, about 500 B/s: cut at the end of the first window.
    let (read, cut) = read_paced(
        timed_body(Duration::from_millis(20), b"0123456789", 50),
        idle,
        Some(rate),
    )
    .await;
    assert!(read.is_err(), "{read:?}");
    assert_eq!(cut, Some(BodyCut::TooSlow(rate)));
    // 100 bytes every 20 ms, about 5 kB/s, over five windows: read whole.
    let (read, cut) = read_paced(
        timed_body(Duration::from_millis(20), &[b'x'; 100], 50),
        idle,
        Some(rate),
    )
    .await;
    assert_eq!((read, cut), (Ok(5000), None));
    // Without a minimum rate the slow body is read whole.
    let (read, cut) = read_paced(
        timed_body(Duration::from_millis(20), b"0123456789", 20),
        idle,
        None,
    )
    .await;
    assert_eq!((read, cut), (Ok(200), None));
}

#[tokio::test]
async fn a_body_that_stops_is_cut_at_the_idle_timeout() {
    let idle = Duration::from_millis(100);
    let (read, cut) = read_paced(
        timed_body(Duration::from_millis(300), b"late", 1),
        idle,
        None,
    )
    .await;
    assert!(read.is_err(), "{read:?}");
    assert_eq!(cut, Some(BodyCut::Stalled(idle)));
}

proptest::proptest! {
    /// Any bytes: refused, or every field decodes to text; nothing panics.
    #[test]
    fn any_body_parses_or_is_refused(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = Fields::parse(&raw);
    }

    /// Distinct names with any values, percent-encoded the way browsers do, come back exactly.
    #[test]
    fn encoded_fields_round_trip(
        fields in proptest::collection::btree_map("[a-z_]{1,12}", "\\PC{0,30}", 0..6)
    ) {
        let encode = |text: &str| -> String {
            percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let body = fields
            .iter()
            .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let parsed = Fields::parse(body.as_bytes());
        proptest::prop_assert!(parsed.is_ok(), "{}", body);
        let parsed = parsed.unwrap_or_default();
        for (name, value) in &fields {
            proptest::prop_assert_eq!(parsed.get(name), Some(value.as_str()));
        }
    }

    /// A name sent twice is refused, whatever the values.
    #[test]
    fn a_repeated_name_is_refused(name in "[a-z]{1,8}", a in "[a-z0-9]{0,8}", b in "[a-z0-9]{0,8}") {
        let body = format!("{name}={a}&{name}={b}");
        proptest::prop_assert!(Fields::parse(body.as_bytes()).is_err());
    }
}

#[test]
fn more_fields_than_any_form_has_are_refused() {
    let body = |n: usize| {
        (0..n)
            .map(|i| format!("f{i}=x"))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert!(Fields::parse(body(MAX_FIELDS).as_bytes()).is_ok());
    match Fields::parse(body(MAX_FIELDS + 1).as_bytes()) {
        Err(ApiError::BadRequest(message)) => assert!(message.contains("more than 64 fields")),
        other => panic!("expected 400, got {other:?}"),
    }
}

#[test]
fn text_needing_no_decoding_is_borrowed() {
    let fields = Fields::parse(b"a=plain&b=with+space").unwrap_or_default();
    assert!(matches!(fields.0[0].1, Cow::Borrowed("plain")));
    assert!(matches!(fields.0[1].1, Cow::Owned(ref v) if v == "with space"));
}

#[test]
fn forms_decode_plus_and_percent_escapes() {
    let fields = Fields::parse(b"username=Ada+Lovelace&number=%301234567&empty=&flag").ok();
    let fields = fields.as_ref();
    assert_eq!(fields.and_then(|f| f.get("username")), Some("Ada Lovelace"));
    assert_eq!(fields.and_then(|f| f.get("number")), Some("01234567"));
    assert_eq!(fields.and_then(|f| f.get("empty")), Some(""));
    assert_eq!(fields.and_then(|f| f.get("flag")), Some(""));
}

#[test]
fn invalid_utf8_is_refused_not_replaced() {
    assert!(Fields::parse(b"username=%FF").is_err());
    assert!(Fields::parse(b"username=\xff").is_err());
}

#[test]
fn a_repeated_field_is_refused() {
    let err = Fields::parse(b"username=a&username=b")
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("The field `username` was sent more than once.")
    );
}

fn ctx(peer: &str, headers: &[(&'static str, &'static str)], proxies: &[&str]) -> ClientContext {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(*k, HeaderValue::from_static(v));
    }
    let peer = peer.parse::<SocketAddr>().ok().map(ConnectInfo);
    let proxies: Vec<IpNet> = proxies.iter().filter_map(|p| p.parse().ok()).collect();
    ClientContext::from_parts_ref(&map, peer.as_ref(), &proxies)
}

#[test]
fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let c = ctx(
        "203.0.113.9:5000",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "1.2.3.4"),
        ],
        &["10.0.0.0/8"],
    );
    assert_eq!(
        c,
        ClientContext {
            ip: "203.0.113.9".parse().ok(),
            https: false
        }
    );
}

#[test]
fn forwarding_headers_from_trusted_proxies_are_believed() {
    let c = ctx(
        "10.0.1.5:5000",
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.2.2"),
        ],
        &["10.0.0.0/8"],
    );
    assert_eq!(
        c,
        ClientContext {
            ip: "198.51.100.7".parse().ok(),
            https: true
        }
    );
}
