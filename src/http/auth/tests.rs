//! Unit tests of `auth`.

use super::*;

#[test]
fn next_must_be_a_path_on_this_site() {
    assert_eq!(
        local_path_or_admin(Some("/admin/posts/new")),
        "/admin/posts/new"
    );
    assert_eq!(local_path_or_admin(Some("/blog?page=2")), "/blog?page=2");
    for bad in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "evil",
        "",
        "/a\nb",
    ] {
        assert_eq!(local_path_or_admin(Some(bad)), "/admin", "{bad:?}");
    }
    assert_eq!(local_path_or_admin(None), "/admin");
}

#[test]
fn login_urls_carry_next_encoded() {
    assert_eq!(
        login_url("/admin/posts?page=2"),
        "/admin/login?next=%2Fadmin%2Fposts%3Fpage%3D2"
    );
}

#[test]
fn bearer_tokens_are_read_case_insensitively() {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("bearer abc"),
    );
    assert_eq!(bearer_token(&headers), Some("abc"));
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
    assert_eq!(bearer_token(&headers), None);
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
    assert_eq!(bearer_token(&headers), None);
}

#[test]
fn session_cookies_are_http_only_strict_and_secure_over_https() {
    let token = SessionToken::generate();
    let cookie = session_cookie(&token, std::time::Duration::from_secs(60), true)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    assert!(cookie.starts_with("stratus_session="), "{cookie}");
    for part in [
        "Path=/",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=60",
        "Secure",
    ] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    let plain = session_cookie(&token, std::time::Duration::from_secs(60), false)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    assert!(!plain.contains("Secure"), "{plain}");
}
