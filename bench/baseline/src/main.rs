//! The benchmark baseline: a minimal hyper server that answers every request with one fixed ~2 KB HTML
//! page. It does nothing Stratus must do (no routing, database, template, logging or metrics), so its
//! requests/s is the practical ceiling of HTTP on the machine, load generator included, and every other
//! figure of `bench/run` is reported as a ratio to it.
//!
//! Listens on `BASELINE_LISTEN` (default `127.0.0.1:8090`); prints one JSON line once ready.

use std::{convert::Infallible, net::SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming, header, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// About the size of Stratus's board page, so both write the same bytes.
fn page() -> Bytes {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Baseline</title></head><body>\n",
    );
    let mut row = 0;
    while html.len() < 2000 {
        html.push_str(&format!("<p>Row {row:04} of the fixed baseline page.</p>\n"));
        row += 1;
    }
    html.push_str("</body></html>\n");
    Bytes::from(html)
}

async fn answer(
    _request: Request<Incoming>,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::var("BASELINE_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:8090".to_owned())
        .parse()
        .map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(addr).await?;
    let body = page();
    println!(
        "{{\"message\":\"listening\",\"address\":\"{}\",\"page_bytes\":{}}}",
        listener.local_addr()?,
        body.len()
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(request, body.clone()));
            // A client that hangs up mid-request is not an error worth reporting here.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
