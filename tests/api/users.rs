//! Users over HTTP: create, read, list, the unique email rule, the page form.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, csrf_token_in, read, spawn_app};

pub async fn create_user(app: &TestApp, name: &str, email: &str) -> Value {
    let reply = post_user(app, &json!({ "name": name, "email": email })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.json()
}

async fn post_user(app: &TestApp, body: &Value) -> crate::helpers::Reply {
    read(
        app.client
            .post(app.url("/api/v1/users"))
            .json(body)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

#[tokio::test]
async fn a_user_is_created_read_back_and_listed() {
    let app = spawn_app().await;
    let created = post_user(
        &app,
        &json!({ "name": "  Ada Lovelace ", "email": "ada@example.com" }),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let user = created.json();
    assert_eq!(user["name"], "Ada Lovelace");
    let id = user["id"].as_str().expect("id");
    assert_eq!(created.header("location"), format!("/api/v1/users/{id}"));
    assert_eq!(app.get(&format!("/api/v1/users/{id}")).await.json(), user);
    create_user(&app, "Grace", "grace@example.com").await;
    let listed = app.get("/api/v1/users?limit=1").await.json();
    assert_eq!(listed["items"][0]["name"], "Grace", "newest first");
    let cursor = listed["next_cursor"].as_str().expect("second page");
    let next = app
        .get(&format!("/api/v1/users?limit=1&cursor={cursor}"))
        .await
        .json();
    assert_eq!(next["items"][0]["id"], id);
    assert_eq!(
        app.get("/api/v1/users/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
    let nobody = uuid::Uuid::now_v7();
    assert_eq!(
        app.get(&format!("/api/v1/users/{nobody}")).await.status,
        StatusCode::NOT_FOUND
    );
    // The submissions history shares the path segment and still works.
    assert_eq!(
        app.get("/api/v1/users/ada/submissions").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_email_is_unique_whatever_its_case_and_a_duplicate_gets_409() {
    let app = spawn_app().await;
    create_user(&app, "Ada", "ada@example.com").await;
    let again = post_user(
        &app,
        &json!({ "name": "Other Ada", "email": "ADA@Example.com" }),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert_eq!(again.header("content-type"), "application/problem+json");
    assert!(
        again.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("already exists"),
        "{}",
        again.body
    );
    let listed = app.get("/api/v1/users").await.json();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn invalid_users_are_refused_field_by_field() {
    let app = spawn_app().await;
    for (body, fields) in [
        (
            json!({ "name": "Ada", "email": "not-an-address" }),
            vec!["email"],
        ),
        (
            json!({ "name": "", "email": "ada@example.com" }),
            vec!["name"],
        ),
        (
            json!({ "name": "Ada", "email": "ada@localhost" }),
            vec!["email"],
        ),
        (json!({}), vec!["name", "email"]),
        (
            json!({ "name": 7, "email": "ada@example.com" }),
            vec!["name"],
        ),
        (
            json!({ "name": "A\u{0}da", "email": "Ada <ada@example.com>" }),
            vec!["name", "email"],
        ),
    ] {
        let reply = post_user(&app, &body).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.body
        );
        let got: Vec<String> = reply.json()["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["field"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(got, fields, "{body}");
    }
    let listed = app.get("/api/v1/users").await.json();
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(0),
        "nothing stored"
    );
}

#[tokio::test]
async fn the_users_page_creates_with_its_form_and_explains_a_duplicate() {
    let app = spawn_app().await;
    let page = app.get("/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("anyone can add users"));
    let token = csrf_token_in(&page.body);
    let form = |email: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("name", "<Ada>".to_owned()),
            ("email", email.to_owned()),
        ]
    };
    let posted = read(
        app.client
            .post(app.url("/users"))
            .form(&form("ada@example.com"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let page = app.get("/users").await;
    assert!(
        !page.body.contains("<Ada>") && page.body.contains("Ada&"),
        "escaped"
    );
    let duplicate = read(
        app.client
            .post(app.url("/users"))
            .form(&form("Ada@example.com"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    assert!(
        duplicate.body.contains("already exists"),
        "{}",
        duplicate.body
    );
    let bad = read(
        app.client
            .post(app.url("/users"))
            .form(&form("nope"))
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let forged = read(
        app.client
            .post(app.url("/users"))
            .form(&[("name", "x"), ("email", "x@example.com")])
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}
