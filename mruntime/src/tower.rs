//! [`RecoverLayer`]: panic recovery for tower, hyper and axum services (cargo feature `tower`).
//!
//! The middleware a web service adds once: a panic in a handler (while the service is called,
//! or while its response future is polled) is recovered, reported through mruntime like every
//! other recovered panic (one `panic.recovered` log event carrying the request's method and
//! path, one `panic_recovered_total` increment, the span marked, the error reporter called),
//! its policy applied, and answered with a response instead of a dropped connection.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use http::{Request, Response, StatusCode};
//! use mruntime::tower::RecoverLayer;
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
//! assert_eq!(response.body(), r#"{"error":"internal server error"}"#);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use tower_layer::Layer;
use tower_service::Service;
use tracing::Span;

use crate::guard::catch;
use crate::panic::Panicked;
use crate::policy::PanicPolicy;
use crate::site::Site;
use crate::telemetry::egress;
use crate::telemetry::request::{self, RequestFields};

/// The body of [`DefaultPanicResponse`]: it never contains the panic message.
pub const DEFAULT_PANIC_BODY: &str = r#"{"error":"internal server error"}"#;

/// Builds the response sent for a request whose handler panicked (under
/// [`PanicPolicy::KeepRunning`]). The panic has already been reported when this is called.
///
/// Implemented for every `Fn(Panicked) -> Response<B>` and for [`DefaultPanicResponse`]. It runs
/// outside the guard: it must not panic.
pub trait PanicResponse<B> {
    /// The response for `panicked`.
    fn response(&self, panicked: Panicked) -> Response<B>;
}

impl<B, F> PanicResponse<B> for F
where
    F: Fn(Panicked) -> Response<B>,
{
    fn response(&self, panicked: Panicked) -> Response<B> {
        self(panicked)
    }
}

/// The default [`PanicResponse`]: `500 Internal Server Error`, `content-type: application/json`,
/// body [`DEFAULT_PANIC_BODY`]. Nothing of the panic (message, location) reaches the client.
///
/// Works with any response body that can be made from a `&'static str`: axum's `Body`,
/// `String`, `Bytes`, http-body-util's `Full<Bytes>`, ...
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPanicResponse;

impl<B: From<&'static str>> PanicResponse<B> for DefaultPanicResponse {
    fn response(&self, _panicked: Panicked) -> Response<B> {
        let mut response = Response::new(B::from(DEFAULT_PANIC_BODY));
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
/// - A panic while the inner service is called or while its response future is polled is
///   caught by mruntime's guard, under the site `component`/`name`/`policy` of the layer.
/// - It is reported exactly once: an ERROR `panic.recovered` event with `component`,
///   `goroutine_name`, `policy`, the panic value and location, and the request's
///   `http.request.method` and `url.path` (never the query string); the counter
///   `panic_recovered_total{component, goroutine_name, policy}` (static labels: never the path);
///   on the OpenTelemetry span, an `exception` event and status Error; the error reporter.
/// - Every request runs in a span `mruntime.http` with the fields `component`, `name`, `policy`,
///   `http.request.method` and `url.path`, a child of the span current at the call (a
///   tower-http `TraceLayer`'s request span, say), so guards inside the handler are its children.
/// - Under [`PanicPolicy::KeepRunning`] (the default) the request is answered with
///   [`on_panic`](Self::on_panic)'s response (default: [`DefaultPanicResponse`]); under
///   [`PanicPolicy::CrashProcess`] the process ends after telemetry is flushed.
///
/// It changes neither the response type nor the error type of the service it wraps. A panic in
/// the inner service's `poll_ready`, or in its response body while it is streamed, is not caught.
///
/// With axum, add it with `Router::layer` (it then wraps every route and the fallback) or around
/// the whole `Router`:
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
pub struct RecoverLayer<P = DefaultPanicResponse> {
    site: Site,
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
    /// assert_eq!(response.body(), r#"{"error":"payments"}"#);
    /// # }
    /// ```
    pub fn on_panic<Q, B>(self, on_panic: Q) -> RecoverLayer<Q>
    where
        Q: Fn(Panicked) -> Response<B>,
    {
        RecoverLayer {
            site: self.site,
            on_panic: Arc::new(on_panic),
        }
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
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

impl<P> fmt::Debug for RecoverLayer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverLayer")
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

impl<S, P> Layer<S> for RecoverLayer<P> {
    type Service = RecoverService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        RecoverService {
            inner,
            site: self.site,
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

/// The service made by [`RecoverLayer`]: `S` with its panics recovered.
pub struct RecoverService<S, P = DefaultPanicResponse> {
    inner: S,
    site: Site,
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
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

impl<S: fmt::Debug, P> fmt::Debug for RecoverService<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoverService")
            .field("inner", &self.inner)
            .field("site", &self.site)
            .finish_non_exhaustive()
    }
}

/// The span every request runs in; the path as [`egress::path`] lets it out (worked out only when
/// the span is enabled).
fn request_span(site: &Site, method: &Method, path: &str) -> Span {
    tracing::info_span!(
        target: "mruntime",
        "mruntime.http",
        component = site.component(),
        name = site.name(),
        policy = site.policy().as_str(),
        otel.name = site.name(),
        http.request.method = method.as_str(),
        url.path = &*egress::path(path),
    )
}

/// The request as it is kept for a report: method and URI (cheap clones of the request's).
struct Served {
    method: Method,
    uri: Uri,
}

impl Served {
    /// Runs `f` in the guard, with the request as the one being served on this thread.
    fn guarded<T>(&self, site: &Site, f: impl FnOnce() -> T) -> Result<T, Panicked> {
        let fields = RequestFields {
            method: self.method.as_str(),
            path: self.uri.path(),
        };
        request::scoped(&fields, || catch(site, f))
    }
}

impl<S, P, ReqBody, ResBody> Service<Request<ReqBody>> for RecoverService<S, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: PanicResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, P, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let served = Served {
            method: request.method().clone(),
            uri: request.uri().clone(),
        };
        let span = request_span(&self.site, &served.method, served.uri.path());
        let inner = &mut self.inner;
        let called = {
            let _entered = span.enter();
            served.guarded(&self.site, || inner.call(request))
        };
        let state = match called {
            Ok(future) => State::Polling { future },
            Err(panicked) => State::Answered {
                response: Some(self.on_panic.response(panicked)),
            },
        };
        ResponseFuture {
            state,
            site: self.site,
            span,
            served,
            on_panic: Arc::clone(&self.on_panic),
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Polling { #[pin] future: F },
        Answered { response: Option<Response<B>> },
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RecoverService`]: the inner service's, polled inside the guard
    /// and the request's span.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, P, B> {
        #[pin]
        state: State<F, B>,
        site: Site,
        span: Span,
        served: Served,
        on_panic: Arc<P>,
    }
}

impl<F, P, B, E> Future for ResponseFuture<F, P, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    P: PanicResponse<B>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let polled = match this.state.as_mut().project() {
            StateProj::Polling { future } => {
                let _entered = this.span.enter();
                this.served.guarded(this.site, || future.poll(cx))
            }
            StateProj::Answered { response } => {
                return Poll::Ready(Ok(response
                    .take()
                    .expect("ResponseFuture polled after completion")));
            }
        };
        match polled {
            Ok(poll) => poll,
            Err(panicked) => {
                let response = this.on_panic.response(panicked);
                // Release what the handler held (a connection, a lock) now.
                this.state.set(State::Answered { response: None });
                Poll::Ready(Ok(response))
            }
        }
    }
}

impl<F, P, B> fmt::Debug for ResponseFuture<F, P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("site", &self.site)
            .field("method", &self.served.method)
            .field("path", &self.served.uri.path())
            .finish_non_exhaustive()
    }
}
