//! [`RecoverLayer`]: panic recovery for tower, hyper, axum and tonic services (cargo feature
//! `tower`).
//!
//! The middleware a web or gRPC service adds once: a panic in a handler (while the service is
//! called, while its response future is polled, or while its response body is streamed) is
//! recovered, reported through mruntime like every other recovered panic (one `panic.recovered`
//! log event carrying the request's method and path, one `panic_recovered_total` increment, the
//! span marked, the error reporter called), its policy applied, and answered as the protocol
//! wants instead of a dropped connection: an HTTP 500 before the response started, an aborted
//! body after; for a gRPC call, status INTERNAL.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response, StatusCode};
//! use mruntime::tower::{DEFAULT_PANIC_BODY, RecoverLayer};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let service = ServiceBuilder::new()
//!     .layer(RecoverLayer::new("onboarding").name("http"))
//!     .service(service_fn(|request: Request<String>| async move {
//!         if request.uri().path() == "/boom" {
//!             panic!("connection pool poisoned");
//!         }
//!         Ok::<_, Infallible>(Response::new(String::from("ok")))
//!     }));
//!
//! let request = Request::get("/boom").body(String::new()).unwrap();
//! let response = service.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
//! assert_eq!(response.into_body().text(), Some(DEFAULT_PANIC_BODY));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode, header};

mod body;
mod future;
mod health;

use body::grpc_panic_response;
pub use body::{BodyPanicked, BoxError, RecoverBody};
pub use future::ResponseFuture;
pub use health::{HealthBody, HealthService};
use tower_layer::Layer;
use tower_service::Service;

use crate::grpc;
use crate::guard::catch;
use crate::panic::Panicked;
use crate::policy::PanicPolicy;
use crate::site::Site;
use crate::telemetry::request::{self, Served};

/// The `grpc-message` a gRPC call whose handler panicked ends with (with `grpc-status: 13`,
/// INTERNAL). Fixed: it never contains the panic message.
pub const GRPC_PANIC_MESSAGE: &str = grpc::PANIC_MESSAGE;

/// The body of [`DefaultPanicResponse`]: it never contains the panic message.
pub const DEFAULT_PANIC_BODY: &str = r#"{"error":"internal server error"}"#;

/// Builds the response sent for an HTTP request whose handler panicked (under
/// [`PanicPolicy::KeepRunning`]) before its response started. The panic has already been
/// reported when this is called. gRPC calls get the layer's gRPC answer instead (see
/// [`RecoverLayer`]).
///
/// Implemented for every `Fn(Panicked) -> Response<B>` and for [`DefaultPanicResponse`]; an
/// implementation of your own wraps its body with [`RecoverBody::new`]. It runs outside the
/// guard: it must not panic.
pub trait PanicResponse<B> {
    /// The response for `panicked`.
    fn response(&self, panicked: Panicked) -> Response<RecoverBody<B>>;
}

impl<B, F> PanicResponse<B> for F
where
    F: Fn(Panicked) -> Response<B>,
{
    fn response(&self, panicked: Panicked) -> Response<RecoverBody<B>> {
        self(panicked).map(RecoverBody::new)
    }
}

/// The default [`PanicResponse`]: `500 Internal Server Error`, `content-type: application/json`,
/// body [`DEFAULT_PANIC_BODY`]. Nothing of the panic (message, location) reaches the client.
///
/// Works with any response body whose data can be made from a `&'static str` (`Bytes`, as for
/// axum's `Body`, `String`, http-body-util's `Full<Bytes>`, tonic's `Body`, ...): the layer
/// sends the text itself, so the service's body type needs no constructor of its own.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPanicResponse;

impl<B> PanicResponse<B> for DefaultPanicResponse {
    fn response(&self, _panicked: Panicked) -> Response<RecoverBody<B>> {
        let mut response = Response::new(RecoverBody::from_text(DEFAULT_PANIC_BODY));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// A [`tower::Layer`](tower_layer::Layer) that recovers panics in the services it wraps: see
/// the [module documentation](self).
///
/// - A panic while the inner service is called, while its response future is polled, or while
///   its response body is polled ([`RecoverBody`]) is caught by mruntime's guard, under the site
///   `component`/`name`/`policy` of the layer; so is a panic in the `Drop` of what the handler's
///   future or its body holds when they are dropped unfinished (a client that went away).
/// - It is reported exactly once: an ERROR `panic.recovered` event with `component`,
///   `goroutine_name`, `policy`, the panic value and location, and the request's
///   `http.request.method` and `url.path` (never the query string), plus, for a gRPC call,
///   `rpc.system = "grpc"`, `rpc.service` and `rpc.method`; the counter
///   `panic_recovered_total{component, goroutine_name, policy}` (static labels: never the path
///   nor the rpc method); on the OpenTelemetry span, an `exception` event and status Error; the
///   error reporter.
/// - Every request runs in a span `mruntime.http` with the fields `component`, `name`, `policy`,
///   `http.request.method`, `url.path` (and the `rpc.*` fields for a gRPC call), a child of the
///   span current at the call (a tower-http `TraceLayer`'s request span, say), so guards inside
///   the handler, and inside its body's stream, are its children; unless
///   [`request_span(false)`](Self::request_span) leaves the request's span to an outer layer.
/// - Under [`PanicPolicy::CrashProcess`] the process ends after telemetry is flushed. Under
///   [`PanicPolicy::KeepRunning`] (the default) the request is answered:
///
/// | request | panic before the response started | panic while the body is streamed |
/// |---|---|---|
/// | HTTP | [`on_panic`](Self::on_panic)'s response (default: [`DefaultPanicResponse`], a 500) | the body ends with the error [`BodyPanicked`]: hyper aborts the response (HTTP/1.1 closes the connection before the final chunk, HTTP/2 resets the stream) |
/// | gRPC (`content-type: application/grpc*`) | HTTP 200, trailers-only: `grpc-status: 13` (INTERNAL), `grpc-message:` [`GRPC_PANIC_MESSAGE`] | the messages already sent, then trailers `grpc-status: 13`, `grpc-message:` [`GRPC_PANIC_MESSAGE`] |
///
/// The gRPC answers are the layer's own: the protocol fixes them, so `on_panic` is not asked for
/// gRPC calls, and a service that mixes HTTP routes and gRPC keeps one layer. Nothing of the
/// panic (message, location) reaches a client.
///
/// The layer keeps the service's error type; its response body type becomes
/// [`RecoverBody<B>`](RecoverBody) (data `B::Data`, error [`BoxError`]), which axum, hyper and
/// tonic accept as they accept `B`. The wrapped service's body must be an
/// [`http_body::Body`] whose data can be made from a `&'static str` (`Bytes` can: axum's,
/// hyper's, tonic's and http-body-util's bodies, `String`). A non-streaming body costs one
/// guarded poll per frame; an empty one, none. A panic in the inner service's `poll_ready` is not
/// caught.
///
/// With axum, add it with `Router::layer` (it then wraps every route and the fallback):
///
/// ```
/// use axum::{Router, routing::get};
/// use mruntime::tower::RecoverLayer;
///
/// async fn panics() -> &'static str {
///     panic!("unfinished")
/// }
///
/// let app: Router = Router::new()
///     .route("/debug/panic", get(panics))
///     .layer(RecoverLayer::new("ledger").name("http"));
/// ```
///
/// or around the whole `Router`, which costs less per request: axum boxes every route added to
/// with `Router::layer` once more and clones it for each request, whatever the layer (the
/// `layer_floor` and `outer_*` rows of `docs/performance.md` measure both). Served by hyper (with
/// hyper-util's `TowerToHyperService`) the service is used as it is; `axum::serve` wants axum's
/// own body, so the response is mapped into it first (one box per response):
///
/// ```no_run
/// use axum::extract::Request;
/// use axum::response::IntoResponse;
/// use axum::{Router, ServiceExt, routing::get};
/// use mruntime::tower::RecoverLayer;
/// use tower::ServiceBuilder;
///
/// # async fn serve() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(|| async { "hello" }));
/// let service = ServiceBuilder::new()
///     .map_response(IntoResponse::into_response)
///     .layer(RecoverLayer::new("ledger").name("http"))
///     .service(app);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// axum::serve(listener, ServiceExt::<Request>::into_make_service(service)).await
/// # }
/// ```
pub struct RecoverLayer<P = DefaultPanicResponse> {
    site: Site,
    request_span: bool,
    on_panic: Arc<P>,
}

impl RecoverLayer {
    /// A layer reporting under `component`, named `"http"`, with
    /// [`PanicPolicy::KeepRunning`] and the [`DefaultPanicResponse`].
    ///
    /// `component` (and the [`name`](Self::name)) are `&'static str` on purpose: they are metric
    /// labels, so their number stays bounded.
    pub fn new(component: &'static str) -> Self {
        RecoverLayer {
            site: Site::new(component, "http", PanicPolicy::KeepRunning),
            request_span: true,
            on_panic: Arc::new(DefaultPanicResponse),
        }
    }
}

impl<P> RecoverLayer<P> {
    /// Sets the name panics are reported under (the `goroutine_name` label; default `"http"`):
    /// a static route or service name such as `"api.v1"`, never a raw path.
    pub fn name(mut self, name: &'static str) -> Self {
        self.site = Site::new(self.site.component(), name, self.site.policy());
        self
    }

    /// Sets the policy applied after a recovered panic (default
    /// [`PanicPolicy::KeepRunning`]). Under [`PanicPolicy::CrashProcess`] no response is sent:
    /// the process ends.
    pub fn policy(mut self, policy: PanicPolicy) -> Self {
        self.site = Site::new(self.site.component(), self.site.name(), policy);
        self
    }

    /// Sets the function that builds the response for a recovered panic. It receives the
    /// [`Panicked`] (already reported) and must return the response type of the wrapped service.
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use http::{Request, Response, StatusCode};
    /// use mruntime::tower::RecoverLayer;
    /// use tower::{Layer, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = RecoverLayer::new("payments").on_panic(|panicked| {
    ///     let mut response = Response::new(format!("{{\"error\":\"{}\"}}", panicked.component()));
    ///     *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    ///     response
    /// });
    /// let service = layer.layer(service_fn(|_: Request<()>| async {
    ///     if true {
    ///         panic!("card vault unreachable");
    ///     }
    ///     Ok::<_, Infallible>(Response::new(String::new()))
    /// }));
    ///
    /// let response = service.oneshot(Request::new(())).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// let body = response.into_body().into_inner().unwrap();
    /// assert_eq!(body, r#"{"error":"payments"}"#);
    /// # }
    /// ```
    pub fn on_panic<Q, B>(self, on_panic: Q) -> RecoverLayer<Q>
    where
        Q: Fn(Panicked) -> Response<B>,
    {
        RecoverLayer {
            site: self.site,
            request_span: self.request_span,
            on_panic: Arc::new(on_panic),
        }
    }

    /// Sets whether each request runs in the layer's own span `mruntime.http` (default `true`).
    ///
    /// Turn it off when an outer layer already makes a span for each request (tower-http's
    /// `TraceLayer`, say): it saves one span per request, which a pipeline that exports every
    /// span pays for in throughput (2 to 5% in the soak of `docs/soak.md`, where that span is
    /// the only one a request makes). A panic is still reported once with the request's method
    /// and path (on the `panic.recovered` event, the reporter's report and the metric); its
    /// OpenTelemetry `exception` event and status Error go on the span current when the layer
    /// is called or polled (the outer layer's), and the spans of guards inside the handler are
    /// children of that span.
    ///
    /// ```
    /// use axum::{Router, routing::get};
    /// use mruntime::tower::RecoverLayer;
    /// use tower_http::trace::TraceLayer;
    ///
    /// let app: Router = Router::new()
    ///     .route("/", get(|| async { "ok" }))
    ///     // Layers added later wrap the earlier ones: TraceLayer's span is current inside.
    ///     .layer(RecoverLayer::new("ledger").request_span(false))
    ///     .layer(TraceLayer::new_for_http());
    /// ```
    pub fn request_span(mut self, enabled: bool) -> Self {
        self.request_span = enabled;
        self
    }

    /// The site (component, name, policy) panics are reported under.
    pub fn site(&self) -> &Site {
        &self.site
    }
}

impl<P> Clone for RecoverLayer<P> {
    fn clone(&self) -> Self {
        RecoverLayer {
            site: self.site,
            request_span: self.request_span,
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

impl<P> fmt::Debug for RecoverLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverLayer")
            .field("site", &self.site)
            .field("request_span", &self.request_span)
            .finish_non_exhaustive()
    }
}

impl<S, P> Layer<S> for RecoverLayer<P> {
    type Service = RecoverService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RecoverService {
            inner,
            site: self.site,
            request_span: self.request_span,
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

/// The service made by [`RecoverLayer`]: `S` with its panics recovered.
pub struct RecoverService<S, P = DefaultPanicResponse> {
    inner: S,
    site: Site,
    request_span: bool,
    on_panic: Arc<P>,
}

impl<S, P> RecoverService<S, P> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The site (component, name, policy) panics are reported under.
    pub fn site(&self) -> &Site {
        &self.site
    }
}

impl<S: Clone, P> Clone for RecoverService<S, P> {
    fn clone(&self) -> Self {
        RecoverService {
            inner: self.inner.clone(),
            site: self.site,
            request_span: self.request_span,
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

impl<S: fmt::Debug, P> fmt::Debug for RecoverService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverService")
            .field("inner", &self.inner)
            .field("site", &self.site)
            .field("request_span", &self.request_span)
            .finish_non_exhaustive()
    }
}

/// Runs `f` in the layer's guard, with `served` as the request being served on this thread.
#[inline]
fn guarded<T>(site: &Site, served: &Served, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    request::scoped(served, || catch(site, f))
}

/// The answer to a panic before the response started.
#[cold]
fn answer<P, B>(served: &Served, on_panic: &P, panicked: Panicked) -> Response<RecoverBody<B>>
where
    P: PanicResponse<B>,
{
    if served.is_grpc() {
        grpc_panic_response()
    } else {
        on_panic.response(panicked)
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for RecoverService<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: PanicResponse<ResBody>,
    ResBody: http_body::Body,
{
    type Response = Response<RecoverBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, P, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        ResponseFuture::start(
            &mut self.inner,
            request,
            self.site,
            self.request_span,
            &self.on_panic,
        )
    }
}
