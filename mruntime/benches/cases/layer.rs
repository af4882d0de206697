//! The tower layer cases: an axum `Router` with `RecoverLayer` against the same router without
//! it (`layer_request`, `layer_stream`) and with tower-http's `CatchPanicLayer`
//! (`layer_vs_catch_panic`), each layer added with `Router::layer`; the same with each layer
//! around the whole router (`outer_*`); and a layer that does nothing, added with
//! `Router::layer` (`layer_floor`). Requests go through `tower::ServiceExt::oneshot` (no network)
//! and every response body is read to its end; no handler panics.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use mruntime::tower::{RecoverLayer, RecoverService};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};
use tower_http::catch_panic::{CatchPanic, CatchPanicLayer, DefaultResponseForPanic};

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

/// `layer_floor`: the same router under a layer that does nothing (tower's `Identity`), added
/// the same way: what axum's `Router::layer` costs for any layer (each layered route is boxed
/// and cloned again per request), so the part of `layer_request` that is mruntime's can be read.
pub(crate) fn with_no_op_layer() -> Router {
    routes().layer(tower::layer::util::Identity::new())
}

/// The `outer_*` cases: `RecoverLayer` around the whole router (one service, as `tower.rs`
/// shows), where axum adds nothing of its own.
pub(crate) fn around_with_recover_layer() -> RecoverService<Router> {
    RecoverLayer::new("bench").name("http").layer(routes())
}

/// `outer_layer_vs_catch_panic`: tower-http's `CatchPanicLayer` around the whole router.
pub(crate) fn around_with_catch_panic() -> CatchPanic<Router, DefaultResponseForPanic> {
    CatchPanicLayer::new().layer(routes())
}

/// The same router under tower-http's `CatchPanicLayer`.
pub(crate) fn with_catch_panic() -> Router {
    routes().layer(CatchPanicLayer::new())
}

/// Sends `load`'s requests through `service` (a router, or a layer around one) one after the
/// other on `rt`, reading each body to
/// its end; returns the time taken. The body's size is checked, so a layer cannot skip it.
pub(crate) fn batch<S, B>(rt: &Runtime, service: &S, load: &Load) -> Duration
where
    S: Service<Request<Body>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..load.requests {
            let request = Request::get(load.path)
                .body(Body::empty())
                .expect("a request");
            let response = service.clone().oneshot(request).await.expect("infallible");
            let body = response.into_body().collect().await.expect("the body");
            assert_eq!(black_box(body.to_bytes()).len(), load.body_len);
        }
        start.elapsed()
    })
}
