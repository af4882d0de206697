//! [`HealthService`]: the readiness and liveness probes over HTTP, answered from
//! [`mruntime::health`](crate::health).

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use tower_service::Service;

use crate::health::{self, HealthReport};

/// Which probe a [`HealthService`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Readiness,
    Liveness,
}

/// A tower service answering a readiness or liveness probe from [`mruntime::health`](crate::health):
/// `200 OK` when the process is ready (live), `503 Service Unavailable` otherwise, with a JSON
/// body
///
/// ```json
/// {"status": "ready" | "not_ready" | "live" | "not_live", "draining": false, "crashing": false,
///  "components": [{"component": "ledger", "name": "balance-sync", "state": "failed",
///                  "restarts": 5, "last_panic": "db password=[REDACTED] rejected", "reason": null}]}
/// ```
///
/// It answers every request (any method, path, body) the same way, runs no handler of yours,
/// never panics, and is `Clone`, as axum's `route_service` wants. Mount it outside your
/// `RecoverLayer`-wrapped handlers or inside, as you like: it takes no lock longer than the copy
/// of the report.
///
/// ```
/// use axum::Router;
/// use axum::routing::get;
/// use mruntime::tower::HealthService;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "ok" }))
///     .route_service("/readyz", HealthService::readiness())
///     .route_service("/livez", HealthService::liveness());
/// ```
///
/// Readiness turns false when a supervised task gave up, a component of yours is starting or
/// failed, after [`drain`](crate::health::drain), and during a `CrashProcess` crash (before its
/// report and flush: a probe during the flush gets `503`); liveness only during a crash.
#[derive(Clone, Copy)]
pub struct HealthService {
    probe: Probe,
}

impl HealthService {
    /// The readiness probe (`/readyz`): 200 `{"status":"ready",..}` or 503
    /// `{"status":"not_ready",..}`.
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use mruntime::tower::HealthService;
    /// use tower::ServiceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let db = mruntime::health::component("storage", "postgres"); // Starting: not ready
    /// let probe = HealthService::readiness();
    /// let response = probe.clone().oneshot(Request::new(())).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// assert!(response.body().text().starts_with(r#"{"status":"not_ready""#));
    ///
    /// db.set_serving();
    /// let response = probe.oneshot(Request::new(())).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::OK);
    /// # }
    /// ```
    pub const fn readiness() -> Self {
        HealthService {
            probe: Probe::Readiness,
        }
    }

    /// The liveness probe (`/livez`): 200 `{"status":"live",..}`, or 503
    /// `{"status":"not_live",..}` while a `CrashProcess` crash is in progress.
    pub const fn liveness() -> Self {
        HealthService {
            probe: Probe::Liveness,
        }
    }

    /// The response for `report`.
    fn respond(self, report: &HealthReport) -> Response<HealthBody> {
        let (ok, json) = match self.probe {
            Probe::Readiness => (report.is_ready(), report.readiness_json()),
            Probe::Liveness => (report.is_live(), report.liveness_json()),
        };
        let mut response = Response::new(HealthBody {
            json: Some(Bytes::from(json)),
        });
        *response.status_mut() = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl fmt::Debug for HealthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthService")
            .field("probe", &self.probe)
            .finish()
    }
}

impl<B> Service<Request<B>> for HealthService {
    type Response = Response<HealthBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<HealthBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&health::report())))
    }
}

/// The body of a [`HealthService`] response: the JSON document, in one frame.
pub struct HealthBody {
    json: Option<Bytes>,
}

impl HealthBody {
    /// The JSON document (empty once the body was read).
    pub fn text(&self) -> &str {
        self.json
            .as_ref()
            .and_then(|json| std::str::from_utf8(json).ok())
            .unwrap_or("")
    }
}

impl fmt::Debug for HealthBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HealthBody").field(&self.text()).finish()
    }
}

impl Body for HealthBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.json.take().map(|json| Ok(Frame::data(json))))
    }

    fn is_end_stream(&self) -> bool {
        self.json.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.json.as_ref().map_or(0, |json| json.len() as u64))
    }
}
