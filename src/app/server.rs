//! The HTTP/1.1 accept loop.
//!
//! `axum::serve` has no keep-alive idle timeout, so an idle connection would stay open forever; hyper's own
//! default (30 s) would be worse behind an ALB, whose 60 s idle timeout then reuses connections we already
//! closed: the classic intermittent 502. hyper's header-read timeout runs from the moment a connection waits
//! for its next request, so setting it to `keep_alive_timeout` (75 s by default) closes idle connections
//! only after the balancer has given up on them.

use std::{net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// The largest read buffer of one connection, and the largest request head (request line and headers;
/// larger gets 431), as the ALB's own limit for the headers: 64 KiB. hyper's default buffer (about 400 KiB)
/// grows to that size on any connection whose client sends quickly, and an upload that then stalls keeps
/// it: with uploads streamed to disk (`files::objects`), 100 uploads that sent 4 MiB each and stopped still
/// raised RSS by 108 MiB, and by 34 MiB with this limit.
const MAX_READ_BUFFER_BYTES: usize = 64 * 1024;

/// Accepts connections until `stop` fires, then waits for every open connection to finish its current
/// request and close. The caller bounds the wait.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    keep_alive_timeout: Duration,
    stop: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Usually EMFILE: back off instead of spinning; the connection stays in the backlog.
                    tracing::warn!(error.message = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error.message = %err, "could not set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            // A bare 405 gets its problem body here, where axum's `Allow` header is on it.
            futures_util::FutureExt::map(
                router.clone().oneshot(request.map(axum::body::Body::new)),
                |answer| answer.map(crate::http::middleware::problem_for_bare_405),
            )
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(keep_alive_timeout)
            .keep_alive(true)
            .max_buf_size(MAX_READ_BUFFER_BYTES)
            .max_header_size(MAX_READ_BUFFER_BYTES)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error.message = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
