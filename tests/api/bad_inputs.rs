//! A table of bad inputs. Each gets the right 4xx, a message a person understands, and nothing stored
//! changes (checked in the database file itself, not through the API).

use crate::helpers::{csrf_token_in, read, spawn_app};

struct Case {
    name: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    /// Append the page's valid CSRF token (form cases), so the case tests what it says it tests.
    with_csrf: bool,
    extra_header: Option<(&'static str, &'static str)>,
    status: u16,
    message: &'static str,
}

const API: &str = "/api/v1/submissions";
const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn json_case(
    name: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    message: &'static str,
) -> Case {
    Case {
        name,
        path: API,
        content_type: JSON,
        body: body.into(),
        with_csrf: false,
        extra_header: None,
        status,
        message,
    }
}

fn form_case(
    name: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    message: &'static str,
) -> Case {
    Case {
        name,
        path: "/",
        content_type: FORM,
        body: body.into(),
        with_csrf: true,
        extra_header: None,
        status,
        message,
    }
}

fn cases() -> Vec<Case> {
    let big = "a".repeat(2 * 1024 * 1024);
    vec![
        json_case(
            "arabic-indic digit",
            r#"{"username":"ada","number":"1234567٣"}"#,
            422,
            "is not a digit 0-9",
        ),
        json_case(
            "full-width digits",
            r#"{"username":"ada","number":"１２３４５６７８"}"#,
            422,
            "is not a digit 0-9",
        ),
        json_case(
            "superscript digit",
            r#"{"username":"ada","number":"1234567²"}"#,
            422,
            "is not a digit 0-9",
        ),
        json_case(
            "seven digits",
            r#"{"username":"ada","number":"1234567"}"#,
            422,
            "exactly 8 digits; it has 7",
        ),
        json_case(
            "nine digits",
            r#"{"username":"ada","number":"123456789"}"#,
            422,
            "exactly 8 digits; it has 9",
        ),
        json_case(
            "empty number",
            r#"{"username":"ada","number":""}"#,
            422,
            "Enter an 8-digit number",
        ),
        json_case(
            "number with spaces",
            r#"{"username":"ada","number":"1234 567"}"#,
            422,
            "is not a digit 0-9",
        ),
        json_case(
            "number as a JSON integer",
            r#"{"username":"ada","number":12345678}"#,
            422,
            "would lose leading zeros",
        ),
        json_case(
            "number null",
            r#"{"username":"ada","number":null}"#,
            422,
            "number is required",
        ),
        json_case(
            "username missing",
            r#"{"number":"12345678"}"#,
            422,
            "username is required",
        ),
        json_case(
            "username blank",
            r#"{"username":"   ","number":"12345678"}"#,
            422,
            "Enter a username",
        ),
        json_case(
            "username with NUL",
            r#"{"username":"a\u0000b","number":"12345678"}"#,
            422,
            "control character (U+0000)",
        ),
        json_case(
            "username with CR LF",
            r#"{"username":"a\r\nb","number":"12345678"}"#,
            422,
            "control character (U+000D)",
        ),
        json_case(
            "username with TAB",
            r#"{"username":"a\tb","number":"12345678"}"#,
            422,
            "control character (U+0009)",
        ),
        json_case(
            "username with BEL",
            r#"{"username":"a\u0007b","number":"12345678"}"#,
            422,
            "control character (U+0007)",
        ),
        json_case(
            "username of 65 characters",
            format!(r#"{{"username":"{}","number":"12345678"}}"#, "x".repeat(65)),
            422,
            "too long: 65 characters",
        ),
        json_case(
            "username of 10000 characters",
            format!(
                r#"{{"username":"{}","number":"12345678"}}"#,
                "x".repeat(10_000)
            ),
            422,
            "too long",
        ),
        json_case(
            "username as an object",
            r#"{"username":{"$ne":""},"number":"12345678"}"#,
            422,
            "username must be a JSON string",
        ),
        json_case(
            "2 MiB JSON body",
            format!(r#"{{"username":"{big}","number":"12345678"}}"#),
            413,
            "too large",
        ),
        json_case(
            "invalid UTF-8 in JSON",
            b"{\"username\":\"\xff\xfe\",\"number\":\"12345678\"}".to_vec(),
            400,
            "not valid JSON",
        ),
        json_case(
            "malformed JSON",
            r#"{"username":"ada","number":"#,
            400,
            "not valid JSON",
        ),
        json_case(
            "JSON array",
            r#"["ada","12345678"]"#,
            422,
            "must be a JSON object",
        ),
        json_case(
            "JSON string",
            r#""ada 12345678""#,
            422,
            "must be a JSON object",
        ),
        json_case(
            "duplicated JSON field",
            r#"{"username":"ada","username":"eve","number":"12345678"}"#,
            422,
            "Duplicate field `username`",
        ),
        json_case(
            "unknown JSON field",
            r#"{"username":"ada","number":"12345678","admin":true}"#,
            422,
            "Unknown field `admin`",
        ),
        Case {
            content_type: Some("text/plain"),
            ..json_case(
                "text/plain to the API",
                r#"{"username":"ada","number":"12345678"}"#,
                415,
                "Content-Type must be application/json, not text/plain",
            )
        },
        Case {
            content_type: None,
            ..json_case(
                "no content type to the API",
                r#"{"username":"ada","number":"12345678"}"#,
                415,
                "the request had none",
            )
        },
        Case {
            content_type: FORM,
            ..json_case(
                "form to the API",
                "username=ada&number=12345678",
                415,
                "must be application/json",
            )
        },
        Case {
            content_type: JSON,
            ..form_case(
                "JSON to the form",
                r#"{"username":"ada","number":"12345678"}"#,
                415,
                "must be application/x-www-form-urlencoded",
            )
        },
        form_case(
            "2 MiB form body",
            format!("username={big}&number=12345678"),
            413,
            "too large",
        ),
        form_case(
            "form with percent-encoded invalid UTF-8",
            "username=%FF%FE&number=12345678",
            400,
            "not valid UTF-8",
        ),
        form_case(
            "form with raw invalid UTF-8",
            b"username=\xc3\x28&number=12345678".to_vec(),
            400,
            "not valid UTF-8",
        ),
        form_case(
            "duplicated form field",
            "username=ada&username=eve&number=12345678",
            400,
            "was sent more than once",
        ),
        form_case(
            "form with a letter in a box",
            "username=ada&digit1=a&digit2=2&digit3=3&digit4=4&digit5=5&digit6=6&digit7=7&digit8=8",
            422,
            "Digit 1 must be a single digit 0-9.",
        ),
        form_case(
            "form with two digits in a box",
            "username=ada&digit1=12&digit2=2&digit3=3&digit4=4&digit5=5&digit6=6&digit7=7&digit8=8",
            422,
            "Digit 1 must be a single digit 0-9.",
        ),
        form_case(
            "form with full-width digits",
            "username=ada&number=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96%EF%BC%97%EF%BC%98",
            422,
            "is not a digit 0-9",
        ),
        form_case(
            "form with NUL in the username",
            "username=a%00b&number=12345678",
            422,
            "control character (U+0000)",
        ),
        form_case(
            "form with both number and boxes",
            "username=ada&number=12345678&digit1=1",
            422,
            "not both",
        ),
        form_case("form with nothing", "", 422, "Enter a username."),
        Case {
            with_csrf: false,
            ..form_case(
                "form without a CSRF token",
                "username=ada&number=12345678",
                403,
                "security token",
            )
        },
        Case {
            extra_header: Some(("sec-fetch-site", "cross-site")),
            ..form_case(
                "cross-site form",
                "username=ada&number=12345678",
                403,
                "another site",
            )
        },
    ]
}

#[tokio::test]
async fn bad_inputs_get_a_clear_4xx_and_change_nothing() {
    let app = spawn_app().await;
    app.submit("existing", "00000001").await;
    let token = csrf_token_in(&app.get_board().await.body);
    let cases = cases();
    assert!(cases.len() >= 25, "the table keeps at least 25 cases");
    let before = app.stored_state().await;
    for case in cases {
        let mut body = case.body.clone();
        if case.with_csrf {
            if !body.is_empty() {
                body.push(b'&');
            }
            body.extend_from_slice(format!("csrf_token={token}").as_bytes());
        }
        let mut request = app.client.post(app.url(case.path)).body(body);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some((name, value)) = case.extra_header {
            request = request.header(name, value);
        }
        let reply = read(request.send().await.expect("sent")).await;
        assert_eq!(
            reply.status.as_u16(),
            case.status,
            "{}: {}",
            case.name,
            reply.body
        );
        assert!(
            reply.body.contains(case.message),
            "{}: expected {:?} in {}",
            case.name,
            case.message,
            reply.body
        );
        let expected_type = if case.path == API {
            "application/problem+json"
        } else {
            "text/html; charset=utf-8"
        };
        assert_eq!(reply.header("content-type"), expected_type, "{}", case.name);
        assert!(
            !reply.body.contains("sqlx") && !reply.body.contains("panicked"),
            "{}: leaks internals",
            case.name
        );
        assert_eq!(
            app.stored_state().await,
            before,
            "{}: stored state changed",
            case.name
        );
    }
}

#[tokio::test]
async fn a_422_lists_every_wrong_field() {
    let app = spawn_app().await;
    let reply = app
        .post_submission(&serde_json::json!({ "username": "", "number": "12" }))
        .await;
    assert_eq!(reply.status.as_u16(), 422);
    let problem = reply.json();
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["username", "number"]);
    assert_eq!(problem["title"], "Unprocessable Entity");
}
