//! The JSON API: creation, latest, by id, history paging, visits, problem documents, OpenAPI.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn creating_a_submission_answers_201_with_location_and_the_stored_value() {
    let app = spawn_app().await;
    let reply = app
        .post_submission(&json!({ "username": "ada", "number": "00012345" }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(body["username"], "ada");
    assert_eq!(body["number"], "00012345", "leading zeros kept");
    let id = body["id"].as_str().expect("id");
    assert_eq!(
        reply.header("location"),
        format!("/api/v1/submissions/{id}")
    );
    let created_at = body["created_at"].as_str().expect("created_at");
    assert!(
        time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339)
            .is_ok()
    );
    assert!(created_at.ends_with('Z'));

    let fetched = app.get(reply.header("location")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.json(), body);
}

#[tokio::test]
async fn latest_is_404_problem_json_until_something_is_stored() {
    let app = spawn_app().await;
    let reply = app.latest().await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    let problem = reply.json();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["detail"], "There are no submissions yet.");
    assert_eq!(problem["request_id"], reply.header("x-request-id"));

    app.submit("first", "11111111").await;
    let second = app.submit("second", "22222222").await;
    assert_eq!(app.latest().await.json(), second);
}

#[tokio::test]
async fn unknown_or_malformed_submission_ids_are_404() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/submissions/01936f8e-8a4e-7cc2-9b1e-3f5d2a6c7b80",
        "/api/v1/submissions/nope",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.header("content-type"), "application/problem+json");
    }
}

#[tokio::test]
async fn history_is_newest_first_and_pages_with_an_opaque_cursor() {
    let app = spawn_app().await;
    let user = "Zoë Ünïcode 名前";
    let mut created = Vec::new();
    for i in 0..25 {
        created.push(app.submit(user, &format!("{i:08}")).await);
        if i % 5 == 0 {
            app.submit("someone else", "99999999").await;
        }
    }
    let encoded: String =
        percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC).to_string();
    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=10&cursor={c}"),
            None => "?limit=10".to_owned(),
        };
        let reply = app
            .get(&format!("/api/v1/users/{encoded}/submissions{query}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let page = reply.json();
        pages += 1;
        seen.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(pages, 3);
    created.reverse();
    assert_eq!(seen, created, "all 25, newest first, no gaps or repeats");
}

#[tokio::test]
async fn history_defaults_to_20_and_refuses_bad_limits_and_cursors() {
    let app = spawn_app().await;
    for i in 0..21 {
        app.submit("pat", &format!("{i:08}")).await;
    }
    let page = app.get("/api/v1/users/pat/submissions").await.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(20));
    assert!(page["next_cursor"].is_string());
    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "cursor=%20",
        "cursor=bm90LWEtY3Vyc29y",
        "limit=1&limit=2",
    ] {
        let reply = app
            .get(&format!("/api/v1/users/pat/submissions?{query}"))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.header("content-type"), "application/problem+json");
    }
    let empty = app.get("/api/v1/users/nobody/submissions").await.json();
    assert_eq!(empty, json!({ "items": [], "next_cursor": null }));
}

#[tokio::test]
async fn a_64_character_unicode_username_round_trips() {
    let app = spawn_app().await;
    let name = "🦀".repeat(64);
    let stored = app.submit(&name, "12345678").await;
    assert_eq!(stored["username"], name.as_str());
    let encoded: String =
        percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let page = app
        .get(&format!("/api/v1/users/{encoded}/submissions"))
        .await
        .json();
    assert_eq!(page["items"][0], stored);
}

#[tokio::test]
async fn the_visits_endpoint_reads_without_counting() {
    let app = spawn_app().await;
    let _ = app.get_board().await;
    assert_eq!(app.visit_count().await, 1);
    assert_eq!(app.visit_count().await, 1);
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_describes_every_api_route() {
    let app = spawn_app().await;
    let reply = app.get("/api/v1/openapi.json").await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/submissions", "post"),
        ("/api/v1/submissions/latest", "get"),
        ("/api/v1/submissions/{id}", "get"),
        ("/api/v1/users/{username}/submissions", "get"),
        ("/api/v1/visits", "get"),
        ("/health", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["SubmissionBody"]["properties"]["number"]["type"],
        "string"
    );
    assert_eq!(
        schemas["SubmissionBody"]["properties"]["number"]["pattern"],
        "^[0-9]{8}$"
    );
    assert!(schemas["Problem"]["properties"]["request_id"].is_object());
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(schemas.get(name).is_some(), "dangling $ref to {name}");
    }
    // Every documented GET without parameters is routed (a 404 may only be the handler's own answer).
    for (path, item) in paths {
        if item.get("get").is_some() && !path.contains('{') {
            let reply = app.get(path).await;
            assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
            assert!(
                !reply.body.contains("There is nothing at this address."),
                "{path} is not routed"
            );
        }
    }
}

#[tokio::test]
async fn unknown_api_paths_are_problem_json_and_unknown_pages_are_html() {
    let app = spawn_app().await;
    let api = app.get("/api/v1/nothing").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.header("content-type"), "application/problem+json");
    let page = app.get("/nothing").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.header("content-type").starts_with("text/html"));
    assert!(page.body.contains("There is nothing at this address."));
}
