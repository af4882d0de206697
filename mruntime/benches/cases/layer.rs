//! The tower layer cases: an axum `Router` with `RecoverLayer` against the same router without
//! it (`layer_request`, `layer_stream`) and with tower-http's `CatchPanicLayer`
//! (`layer_vs_catch_panic`). Requests go through `tower::ServiceExt::oneshot` (no network) and
//! every response body is read to its end; no handler panics.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::Request;
use http_body_util::BodyExt;
use mruntime::tower::RecoverLayer;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

/// Requests per layer batch.
pub(crate) const REQUESTS_PER_BATCH: usize = 1_000;
/// Requests per `layer_stream` batch.
pub(crate) const STREAMS_PER_BATCH: usize = 100;
/// Chunks of the `layer_stream` body.
const CHUNKS: usize = 100;

async fn hello() -> &'static str {
    "hello"
}

async fn chunks() -> Body {
    Body::from_stream(futures_util::stream::iter((0..CHUNKS).map(|_| {
        Ok::<_, Infallible>(Bytes::from_static(b"chunk of a streamed body\n"))
    })))
}

/// The router of every layer case: `/` answers a short text, `/stream` a 100-chunk body.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/", get(hello))
        .route("/stream", get(chunks))
}

/// The same router under `RecoverLayer`.
pub(crate) fn with_recover_layer() -> Router {
    routes().layer(RecoverLayer::new("bench").name("http"))
}

/// The same router under tower-http's `CatchPanicLayer`.
pub(crate) fn with_catch_panic() -> Router {
    routes().layer(CatchPanicLayer::new())
}

/// Sends `requests` GETs of `path` through `router` one after the other, reading each body to
/// its end; returns the time taken. The body's size is checked, so a layer cannot skip it.
pub(crate) async fn request_batch(
    router: &Router,
    path: &'static str,
    requests: usize,
    body_len: usize,
) -> Duration {
    let start = Instant::now();
    for _ in 0..requests {
        let request = Request::get(path).body(Body::empty()).expect("a request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let body = response.into_body().collect().await.expect("the body");
        assert_eq!(black_box(body.to_bytes()).len(), body_len);
    }
    start.elapsed()
}

/// The length of `/stream`'s body.
pub(crate) const STREAM_LEN: usize = CHUNKS * b"chunk of a streamed body\n".len();
