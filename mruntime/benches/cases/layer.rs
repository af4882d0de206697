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
use tokio::runtime::Runtime;
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

/// Chunks of the `/stream` body.
const CHUNKS: usize = 100;
/// One chunk of it.
const CHUNK: &[u8] = b"chunk of a streamed body\n";

/// What a layer batch sends: `requests` GETs of `path`, each answered with `body_len` bytes.
pub(crate) struct Load {
    pub(crate) path: &'static str,
    pub(crate) requests: usize,
    pub(crate) body_len: usize,
}

/// `layer_request`, `layer_vs_catch_panic`: 1,000 requests of a 5-byte answer.
pub(crate) const HELLO: Load = Load {
    path: "/",
    requests: 1_000,
    body_len: 5,
};

/// `layer_stream`: 100 requests of a 100-chunk body.
pub(crate) const STREAM: Load = Load {
    path: "/stream",
    requests: 100,
    body_len: CHUNKS * CHUNK.len(),
};

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

/// Sends `load`'s requests through `router` one after the other on `rt`, reading each body to
/// its end; returns the time taken. The body's size is checked, so a layer cannot skip it.
pub(crate) fn batch(rt: &Runtime, router: &Router, load: &Load) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..load.requests {
            let request = Request::get(load.path)
                .body(Body::empty())
                .expect("a request");
            let response = router.clone().oneshot(request).await.expect("infallible");
            let body = response.into_body().collect().await.expect("the body");
            assert_eq!(black_box(body.to_bytes()).len(), load.body_len);
        }
        start.elapsed()
    })
}
