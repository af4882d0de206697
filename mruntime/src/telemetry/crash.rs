//! `CrashProcess`: report, flush everything within a bounded time, then abort.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::panic::{Panicked, Silenced};
use crate::telemetry::reporter;

type FlushFn = Arc<dyn Fn() + Send + Sync>;

static ON_CRASH: Mutex<Vec<FlushFn>> = Mutex::new(Vec::new());
static FLUSH_TIMEOUT_MS: AtomicU64 = AtomicU64::new(5_000);

/// Registers flush work to run before a `CrashProcess` abort, such as
/// `meter_provider.force_flush()` and `tracer_provider.force_flush()`, so that the metric point
/// and the span of the fatal panic are exported before the process dies.
///
/// All registered work and the error reporter's [`flush`](crate::ErrorReporter::flush) run on a
/// separate thread, and the process aborts when they are done or when the flush timeout
/// ([`set_crash_flush_timeout`], default 5 s) has passed, whichever comes first. A panic inside
/// one of them is contained.
///
/// ```
/// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// let for_crash = provider.clone();
/// mruntime::on_crash(move || {
///     let _ = for_crash.force_flush();
/// });
/// ```
pub fn on_crash(flush: impl Fn() + Send + Sync + 'static) {
    ON_CRASH
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::new(flush));
}

/// Sets the most time a `CrashProcess` abort waits for the registered flush work and the error
/// reporter (default 5 s).
pub fn set_crash_flush_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    FLUSH_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// Ends the process after `panicked` was reported (metric recorded, event emitted, reporter
/// called): ends and exports the current span, flushes, aborts. `std::process::abort` rather
/// than a re-panic: tokio would catch a re-panic in a task and the process would survive.
#[cold]
pub(crate) fn crash(panicked: &Panicked) -> ! {
    eprintln!(
        "mruntime: CrashProcess: {}; flushing telemetry, then aborting",
        crate::telemetry::egress::stderr_summary(panicked)
    );
    // The guard's span is still open (we are inside it): end its OpenTelemetry span now so the
    // span processor exports it with its panic events.
    let _ = Silenced::run(|| {
        let span = Span::current();
        if !span.is_disabled() {
            opentelemetry::trace::TraceContextExt::span(&span.context()).end();
        }
    });
    flush_within(Duration::from_millis(
        FLUSH_TIMEOUT_MS.load(Ordering::Relaxed),
    ));
    std::process::abort()
}

/// Runs every `on_crash` flush and the reporter's flush on a separate thread, waiting at most
/// `timeout` for them.
fn flush_within(timeout: Duration) {
    let hooks: Vec<FlushFn> = ON_CRASH
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let reporter = reporter::current();
    if hooks.is_empty() && reporter.is_none() {
        return;
    }
    let deadline = Instant::now() + timeout;
    let (done, finished) = mpsc::channel::<()>();
    let work = move || {
        for hook in &hooks {
            let _ = Silenced::run(|| hook());
        }
        if let Some(reporter) = reporter {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = Silenced::run(|| reporter.flush(left));
        }
        let _ = done.send(());
    };
    match crate::spawn::thread("mruntime-crash-flush", work) {
        Ok(()) => {
            let _ = finished.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        Err(error) => eprintln!("mruntime: could not start the crash flush thread: {error}"),
    }
}
