//! The service under load: an axum router with a unary handler and a streaming handler that
//! panic on an exact fraction of their requests, the whole router wrapped in the layer under
//! test, a supervised worker panicking and restarting in the background, and the production
//! telemetry pipeline (fmt subscriber, tracing-opentelemetry over an SDK tracer with a batch
//! exporter, an SDK meter provider, a counting error reporter).

use std::convert::Infallible;
use std::fs::File;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Router, ServiceExt};
use bytes::Bytes;
use mruntime::tower::RecoverLayer;
use mruntime::{CancellationToken, ErrorReporter, Panicked, RestartPolicy, Task, TaskGroup};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

/// The component of the HTTP layer's site, and of the worker's.
pub(crate) const HTTP_COMPONENT: &str = "soak-http";
pub(crate) const WORKER_COMPONENT: &str = "soak-worker";

/// The chunks of a streamed response, and the chunk whose making panics.
const CHUNKS: usize = 8;
const PANIC_AT_CHUNK: usize = CHUNKS / 2;
const CHUNK: &[u8] = &[b'x'; 512];
/// How long the worker runs before each of its panics.
const WORKER_PERIOD: Duration = Duration::from_millis(100);

/// Which layer wraps the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// mruntime's `RecoverLayer`: unary and mid-body panics recovered and reported.
    Recover,
    /// tower-http's `CatchPanicLayer`: unary panics only (it cannot catch one mid-body).
    CatchPanic,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Recover => "RecoverLayer",
            Side::CatchPanic => "CatchPanicLayer",
        }
    }

    pub(crate) fn arg(self) -> &'static str {
        match self {
            Side::Recover => "recover",
            Side::CatchPanic => "catch-panic",
        }
    }
}

/// Decides, exactly, which requests of a stream of them panic: `rate` of them, spread evenly.
pub(crate) struct Fraction {
    seen: AtomicU64,
    rate: f64,
}

impl Fraction {
    pub(crate) fn new(rate: f64) -> Self {
        Fraction {
            seen: AtomicU64::new(0),
            rate: rate.clamp(0.0, 1.0),
        }
    }

    /// Whether the next one is hit (the 100th, 200th, ... at a rate of 0.01).
    pub(crate) fn next(&self) -> bool {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) as f64;
        ((n + 1.0) * self.rate).floor() > (n * self.rate).floor()
    }
}

/// What the handlers and the worker did.
pub(crate) struct Shared {
    unary: Fraction,
    stream: Fraction,
    /// Whether streamed bodies panic (not under `CatchPanicLayer`, which would lose them).
    stream_panics: bool,
    pub(crate) unary_panics: AtomicU64,
    pub(crate) stream_panics_raised: AtomicU64,
    pub(crate) worker_panics: AtomicU64,
}

impl Shared {
    pub(crate) fn new(side: Side, panic_rate: f64) -> Arc<Self> {
        Arc::new(Shared {
            unary: Fraction::new(panic_rate),
            stream: Fraction::new(panic_rate),
            stream_panics: side == Side::Recover,
            unary_panics: AtomicU64::new(0),
            stream_panics_raised: AtomicU64::new(0),
            worker_panics: AtomicU64::new(0),
        })
    }
}

async fn unary(State(shared): State<Arc<Shared>>) -> &'static str {
    if shared.unary.next() {
        let n = shared.unary_panics.fetch_add(1, Ordering::Relaxed) + 1;
        panic!("soak: unary handler failed (panic {n}) for user_id=42 token=tk-{n}");
    }
    "ok"
}

async fn stream(State(shared): State<Arc<Shared>>) -> Response {
    let panics = shared.stream_panics && shared.stream.next();
    let chunks = Chunks {
        next: 0,
        panic_at: panics.then_some(PANIC_AT_CHUNK),
        yielded: false,
        shared,
    };
    Body::from_stream(chunks).into_response()
}

/// A streamed body of [`CHUNKS`] chunks that waits once before each, so that what was made is
/// sent before the next is made: a panic at [`PANIC_AT_CHUNK`] happens mid-body, after the head
/// and the first chunks left the server.
struct Chunks {
    next: usize,
    panic_at: Option<usize>,
    yielded: bool,
    shared: Arc<Shared>,
}

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.next == CHUNKS {
            return Poll::Ready(None);
        }
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.yielded = false;
        if self.panic_at == Some(self.next) {
            let n = self
                .shared
                .stream_panics_raised
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            panic!(
                "soak: export cursor lost at chunk {} (panic {n})",
                self.next
            );
        }
        self.next += 1;
        Poll::Ready(Some(Ok(Bytes::from_static(CHUNK))))
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/unary", get(unary))
        .route("/stream", get(stream))
        .with_state(shared)
}

/// Serves the router wrapped in `side`'s layer (around the whole router, where axum adds
/// nothing per request; `RecoverLayer` with its request span when `request_span`) on `listener`
/// until `stop` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    side: Side,
    request_span: bool,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let app = router(shared);
    let stopped = stop.cancelled_owned();
    let served = match side {
        Side::Recover => {
            let service = ServiceBuilder::new()
                .map_response(IntoResponse::into_response)
                .layer(
                    RecoverLayer::new(HTTP_COMPONENT)
                        .name("http")
                        .request_span(request_span),
                )
                .service(app);
            axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
                .with_graceful_shutdown(stopped)
                .await
        }
        Side::CatchPanic => {
            let service = ServiceBuilder::new()
                .map_response(IntoResponse::into_response)
                .layer(CatchPanicLayer::new())
                .service(app);
            axum::serve(listener, ServiceExt::<Request>::into_make_service(service))
                .with_graceful_shutdown(stopped)
                .await
        }
    };
    if let Err(error) = served {
        eprintln!("soak: the server failed: {error}");
    }
}

/// Starts the background worker: it panics every [`WORKER_PERIOD`] and is restarted (never
/// giving up) until `workers` shuts down.
pub(crate) fn start_worker(workers: &TaskGroup, shared: Arc<Shared>) {
    let restart = RestartPolicy::new(
        u32::MAX,
        Duration::from_secs(1),
        Duration::from_millis(5)..Duration::from_millis(20),
    );
    let _worker = Task::new(WORKER_COMPONENT, "ticker")
        .restart(restart)
        .group(workers)
        .spawn(move |ctx| {
            let shared = shared.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(WORKER_PERIOD) => {}
                    _ = ctx.cancelled() => return,
                }
                let n = shared.worker_panics.fetch_add(1, Ordering::Relaxed) + 1;
                panic!("soak: worker lost its connection (panic {n})");
            }
        });
}

/// Reports counted by the component of their site.
#[derive(Default)]
pub(crate) struct Reports {
    pub(crate) http: AtomicU64,
    pub(crate) worker: AtomicU64,
    pub(crate) other: AtomicU64,
}

/// The error reporter: it counts.
struct CountingReporter(Arc<Reports>);

impl ErrorReporter for CountingReporter {
    fn report(&self, panicked: &Panicked) {
        let counts = &self.0;
        let counter = match panicked.component() {
            HTTP_COMPONENT => &counts.http,
            WORKER_COMPONENT => &counts.worker,
            _ => &counts.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Exported spans, counted and dropped (an exporter whose memory does not grow).
#[derive(Debug, Clone, Default)]
struct CountingSpanExporter(Arc<AtomicU64>);

impl SpanExporter for CountingSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// The production pipeline, installed process-wide.
pub(crate) struct Pipeline {
    meters: SdkMeterProvider,
    metrics: InMemoryMetricExporter,
    tracer: SdkTracerProvider,
    spans: Arc<AtomicU64>,
    pub(crate) reports: Arc<Reports>,
}

impl Pipeline {
    /// Installs the subscriber (fmt at INFO to `log_file` or `io::sink`, and the OpenTelemetry
    /// layer), the meter provider mruntime counts with, and the counting reporter. Panics
    /// outside every guard (the handlers' under `CatchPanicLayer`) go to a silent hook on both
    /// sides, so neither pays for stderr.
    pub(crate) fn install(log_file: Option<&str>) -> Result<Pipeline, String> {
        std::panic::set_hook(Box::new(|_| {}));
        mruntime::install_panic_hook();

        let spans = CountingSpanExporter::default();
        let tracer = SdkTracerProvider::builder()
            .with_batch_exporter(spans.clone())
            .build();
        let writer = match log_file {
            Some(path) => {
                let file = File::create(path).map_err(|e| format!("--log-file {path}: {e}"))?;
                BoxMakeWriter::new(Mutex::new(file))
            }
            None => BoxMakeWriter::new(std::io::sink),
        };
        let subscriber = tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_writer(writer),
            )
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("soak")));
        let installed = tracing::subscriber::set_global_default(subscriber);
        installed.map_err(|e| format!("a subscriber was set already: {e}"))?;

        let metrics = InMemoryMetricExporter::default();
        // Read once, at the end: a periodic export would only grow the in-memory exporter.
        let reader = PeriodicReader::builder(metrics.clone())
            .with_interval(Duration::from_secs(24 * 3600))
            .build();
        let meters = SdkMeterProvider::builder().with_reader(reader).build();
        mruntime::init_panic_metrics(meters.meter("soak"));

        let reports = Arc::new(Reports::default());
        mruntime::set_error_reporter(CountingReporter(reports.clone()));
        Ok(Pipeline {
            meters,
            metrics,
            tracer,
            spans: spans.0,
            reports,
        })
    }

    /// `panic_recovered_total` as the SDK has it now, summed over the points of `component`.
    pub(crate) fn panic_recovered_total(&self, component: &str) -> Result<u64, String> {
        self.counter_total("panic_recovered_total", component)
    }

    /// The u64 counter `name` as the SDK has it now, summed over the points of `component`.
    pub(crate) fn counter_total(&self, name: &str, component: &str) -> Result<u64, String> {
        self.meters
            .force_flush()
            .map_err(|e| format!("flush metrics: {e}"))?;
        let exported = self
            .metrics
            .get_finished_metrics()
            .map_err(|e| format!("read metrics: {e}"))?;
        let Some(last) = exported.last() else {
            return Ok(0);
        };
        let mut total = 0;
        for metric in last.scope_metrics().flat_map(|s| s.metrics()) {
            if metric.name() != name {
                continue;
            }
            if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                total += sum
                    .data_points()
                    .filter(|p| {
                        p.attributes().any(|kv| {
                            kv.key.as_str() == "component" && kv.value.as_str() == component
                        })
                    })
                    .map(|p| p.value())
                    .sum::<u64>();
            }
        }
        Ok(total)
    }

    /// Spans the batch exporter has exported so far (after a flush).
    pub(crate) fn exported_spans(&self) -> u64 {
        let _ = self.tracer.force_flush();
        self.spans.load(Ordering::Relaxed)
    }
}
