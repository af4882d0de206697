//! `panic_storm`: recovered panics through the pipeline a real service has (a fmt subscriber
//! writing to a sink, the OpenTelemetry layer with an in-memory span exporter, an SDK meter
//! provider, an error reporter), against the same work written by hand.

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mruntime::{ErrorReporter, PanicSampling, Panicked, recover};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, MeterProvider as _};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing::Dispatch;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use super::{BENCH_PANIC, BUFFER, workload};

/// Panics per `panic_storm` batch (on each thread).
pub(crate) const STORM_PANICS_PER_BATCH: usize = 200;

/// Reports seen by [`CountingReporter`] (and counted by hand on the bare side).
static REPORTS: AtomicU64 = AtomicU64::new(0);

/// An error reporter that does what a cheap one does: look at the panic, count it.
struct CountingReporter;

impl ErrorReporter for CountingReporter {
    fn report(&self, panic: &Panicked) {
        black_box(panic.message());
        REPORTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The pipeline: the subscriber (scoped to the threads that run a batch, so the other cases
/// never see it), the exporters (emptied between batches) and the bare side's counter.
pub(crate) struct Pipeline {
    dispatch: Dispatch,
    spans: InMemorySpanExporter,
    _tracer_provider: SdkTracerProvider,
    _meter_provider: SdkMeterProvider,
    counter: Counter<u64>,
}

impl Pipeline {
    /// Builds the pipeline, installs its meter provider globally (mruntime counts through the
    /// global provider) and the reporter.
    pub(crate) fn install() -> Pipeline {
        let spans = InMemorySpanExporter::default();
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let tracer = tracer_provider.tracer("bench");
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::sink)
                    .with_ansi(false),
            )
            .with(tracing_opentelemetry::layer().with_tracer(tracer));
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
            .build();
        opentelemetry::global::set_meter_provider(meter_provider.clone());
        mruntime::set_error_reporter(CountingReporter);
        // What a hand-written service would do: build its counter once.
        let counter = meter_provider
            .meter("bench")
            .u64_counter("panic_recovered_total")
            .build();
        Pipeline {
            dispatch: Dispatch::new(subscriber),
            spans,
            _tracer_provider: tracer_provider,
            _meter_provider: meter_provider,
            counter,
        }
    }

    /// Runs `batch` on `threads` threads at once, each with the pipeline's subscriber; returns
    /// the time from the start of the first to the end of the last.
    pub(crate) fn run(&self, threads: usize, batch: fn(&Pipeline)) -> Duration {
        self.spans.reset();
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| tracing::dispatcher::with_default(&self.dispatch, || batch(self)));
            }
        });
        let elapsed = start.elapsed();
        let exported = self.spans.get_finished_spans().expect("spans").len();
        assert_eq!(
            exported,
            threads * STORM_PANICS_PER_BATCH,
            "every panic's span was exported"
        );
        elapsed
    }
}

/// What the guarded fn returns after a recovered panic.
fn no_hash(_: Panicked) -> u64 {
    0
}

/// Ours: a `#[recover]` fn that panics (its span, event, metric and report are mruntime's).
#[recover(component = "bench", name = "panic_storm", on_panic = no_hash)]
#[inline(never)]
fn storm_guarded(buf: &[u8; 256]) -> u64 {
    if black_box(true) {
        panic!("bench: a panic"); // a literal, as BENCH_PANIC
    }
    workload(buf)
}

/// A batch of ours.
pub(crate) fn storm_batch_ours(_: &Pipeline) {
    for _ in 0..STORM_PANICS_PER_BATCH {
        black_box(storm_guarded(black_box(&BUFFER)));
    }
}

/// Bare: the same work by hand: a span with the same fields, `catch_unwind`, one
/// `tracing::error!` with the same fields, the counter, the exception event and the status on
/// the OpenTelemetry span, and the reporter's work.
#[inline(never)]
fn storm_by_hand(pipeline: &Pipeline, buf: &[u8; 256]) -> u64 {
    let span = tracing::info_span!(
        target: "mruntime",
        "mruntime.guard",
        component = "bench",
        name = "panic_storm",
        policy = "KeepRunning",
        otel.name = "panic_storm",
    );
    let _entered = span.enter();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        if black_box(true) {
            panic!("bench: a panic"); // a literal, as BENCH_PANIC
        }
        workload(buf)
    }));
    match result {
        Ok(hash) => hash,
        Err(payload) => {
            let message = payload.downcast_ref::<&str>().copied().unwrap_or("");
            tracing::error!(
                target: "mruntime",
                component = "bench",
                goroutine_name = "panic_storm",
                policy = "KeepRunning",
                attempt = 1u32,
                panic.value = message,
                panic.location = tracing::field::display("mruntime/benches/cases/storm.rs:1:1"),
                panic.component = "bench",
                panic.goroutine_name = "panic_storm",
                "panic.recovered"
            );
            pipeline.counter.add(
                1,
                &[
                    KeyValue::new("component", "bench"),
                    KeyValue::new("goroutine_name", "panic_storm"),
                    KeyValue::new("policy", "KeepRunning"),
                ],
            );
            span.add_event(
                "exception",
                vec![
                    KeyValue::new("exception.type", "&str"),
                    KeyValue::new("exception.message", message.to_owned()),
                ],
            );
            span.set_status(Status::error(format!(
                "panic recovered in {}/{}",
                "bench", "panic_storm"
            )));
            black_box(message);
            REPORTS.fetch_add(1, Ordering::Relaxed);
            debug_assert_eq!(message, BENCH_PANIC);
            0
        }
    }
}

/// A batch of bare.
pub(crate) fn storm_batch_bare(pipeline: &Pipeline) {
    for _ in 0..STORM_PANICS_PER_BATCH {
        black_box(storm_by_hand(pipeline, black_box(&BUFFER)));
    }
}

/// `panic_storm_sampled`, ours: the storm with sampling on, one site: each batch is one window
/// whose first panic gets the full report and the other 199 are suppressed (counted, span
/// marked). Against [`storm_batch_ours`] with sampling off.
pub(crate) fn storm_sampling(on: bool) {
    mruntime::set_panic_sampling(if on {
        PanicSampling::per_site(1, Duration::from_secs(60))
    } else {
        PanicSampling::off()
    });
}

/// `panic_suppressed`: every panic suppressed (`per_site(0, ..)`), and no subscriber, as the
/// bare side has none.
pub(crate) fn suppress_all() {
    mruntime::set_panic_sampling(PanicSampling::per_site(0, Duration::from_secs(60)));
}

/// `panic_suppressed`, bare: `catch_unwind` and the count a hand-written service would keep.
#[inline(never)]
fn raw_panic_counted(pipeline: &Pipeline, buf: &[u8; 256]) -> u64 {
    let result = panic::catch_unwind(|| {
        if black_box(true) {
            panic!("bench: a panic"); // a literal, as BENCH_PANIC
        }
        workload(buf)
    });
    result.unwrap_or_else(|_| {
        pipeline.counter.add(
            1,
            &[
                KeyValue::new("component", "bench"),
                KeyValue::new("goroutine_name", "panic_storm"),
                KeyValue::new("policy", "KeepRunning"),
            ],
        );
        0
    })
}

/// A `panic_suppressed` batch on this thread, with no subscriber: bare, or ours (the storm's
/// `#[recover]` fn, every panic suppressed by sampling).
pub(crate) fn suppressed_batch(pipeline: &Pipeline, ours: bool) -> Duration {
    tracing::dispatcher::with_default(&Dispatch::none(), || {
        let start = Instant::now();
        for _ in 0..STORM_PANICS_PER_BATCH {
            if ours {
                black_box(storm_guarded(black_box(&BUFFER)));
            } else {
                black_box(raw_panic_counted(pipeline, black_box(&BUFFER)));
            }
        }
        start.elapsed()
    })
}
