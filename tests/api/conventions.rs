//! What people and tools expect of a web service: the API document where tools look for it, an icon,
//! plain words, text files served as text.

use reqwest::{StatusCode, redirect::Policy};

use crate::{
    files::{BOUNDARY, multipart, spawn_files_app},
    helpers::{read, spawn_app},
};

#[tokio::test]
async fn the_api_document_is_at_the_root_too_and_declares_the_bearer_token() {
    let app = spawn_app().await;
    let versioned = app.get("/api/v1/openapi.json").await;
    let root = app.get("/openapi.json").await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.header("content-type"), "application/json");
    assert_eq!(root.body, versioned.body);
    let doc = root.json();
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    // The scheme is described, not required per operation: with no admin and no token configured the
    // API is open, and an operation that says it needs a token would be a lie to clients and fuzzers.
    assert!(
        scheme["description"]
            .as_str()
            .is_some_and(|d| d.contains("STRATUS_API_TOKEN_SHA256")),
        "{scheme}"
    );
}

#[tokio::test]
async fn the_icon_is_linked_from_pages_and_favicon_ico_leads_to_it() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    let marker = "<link rel=\"icon\" type=\"image/svg+xml\" href=\"";
    let start = page.body.find(marker).expect("pages link an icon") + marker.len();
    let href = &page.body[start..start + page.body[start..].find('"').expect("closing quote")];
    assert!(
        href.starts_with("/static/favicon.") && href.ends_with(".svg"),
        "{href}"
    );
    let icon = app.get(href).await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), "image/svg+xml");
    assert!(icon.header("cache-control").contains("immutable"));
    assert!(icon.body.starts_with("<svg"));

    let no_follow = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let ico = no_follow
        .get(app.url("/favicon.ico"))
        .send()
        .await
        .expect("answered");
    assert_eq!(ico.status(), StatusCode::FOUND);
    assert_eq!(
        ico.headers().get("location").and_then(|v| v.to_str().ok()),
        Some(href)
    );
}

#[tokio::test]
async fn one_visit_is_one_time_not_one_times() {
    let app = spawn_app().await;
    let first = app.get_board().await;
    assert!(
        first
            .body
            .contains("Page visited <strong>1</strong> time</p>"),
        "{}",
        first.body
    );
    let second = app.get_board().await;
    assert!(
        second
            .body
            .contains("Page visited <strong>2</strong> times</p>")
    );
}

#[tokio::test]
async fn a_text_file_is_served_as_utf8_text_but_still_as_an_attachment() {
    let (app, _files) = spawn_files_app(&[]).await;
    let upload = |name: &'static str, bytes: &'static [u8]| {
        let app = &app;
        async move {
            let reply = read(
                app.client
                    .post(app.url("/api/v1/files"))
                    .header(
                        "content-type",
                        format!("multipart/form-data; boundary={BOUNDARY}"),
                    )
                    .body(multipart(&[("file", Some(name), bytes)]))
                    .send()
                    .await
                    .expect("answered"),
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            reply.json()
        }
    };
    let text = upload("notes.txt", "caf\u{e9} au lait\n".as_bytes()).await;
    assert_eq!(text["content_type"], "text/plain");
    let id = text["id"].as_str().expect("an id");
    let download = app.get(&format!("/api/v1/files/{id}/content")).await;
    assert_eq!(download.header("content-type"), "text/plain; charset=utf-8");
    assert!(
        download
            .header("content-disposition")
            .starts_with("attachment")
    );
    assert_eq!(download.header("x-content-type-options"), "nosniff");

    // Only text extensions make text of what sniffing did not know, and only text bytes.
    let html = upload("page.html", b"just words").await;
    assert_eq!(html["content_type"], "application/octet-stream");
    let binary = upload("data.txt", b"\x00\x01\x02\xff").await;
    assert_eq!(binary["content_type"], "application/octet-stream");
}
