//! `CrashProcess`: arm the deadline, say so on stderr, report, flush, abort; all of it within the
//! crash-flush timeout, whatever hangs.

use std::cell::Cell;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::panic::{Panicked, Silenced};
use crate::telemetry::{egress, reporter, watchdog};

type FlushFn = Arc<dyn Fn() + Send + Sync>;

static ON_CRASH: Mutex<Vec<FlushFn>> = Mutex::new(Vec::new());
/// Told first when a crash starts, before anything is said or reported (health: not ready, not
/// live). Set once, by the layer above that keeps the process's health.
static ON_CRASH_START: OnceLock<fn()> = OnceLock::new();
static FLUSH_TIMEOUT_MS: AtomicU64 = AtomicU64::new(5_000);
/// The thread whose crash ends the process: the first to crash.
static CRASHING: OnceLock<ThreadId> = OnceLock::new();

thread_local! {
    /// Set on the thread that is crashing: a crash there again is a sink crashing.
    static CRASHING_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Registers flush work to run before a `CrashProcess` abort, such as
/// `meter_provider.force_flush()` and `tracer_provider.force_flush()`, so that the metric point
/// and the span of the fatal panic are exported before the process dies.
///
/// All registered work, then the error reporter's [`flush`](crate::ErrorReporter::flush), run on
/// a separate thread after the panic was reported. They share one deadline with the report: the
/// crash-flush timeout ([`set_crash_flush_timeout`], default 5 s), counted from the moment the
/// crash starts. The process aborts when they are done or when the deadline passes, whichever
/// comes first, even if one of them never returns. A panic inside one of them is contained.
/// When two threads crash at once, this work runs once.
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

/// Registers `observer` to be told when a crash starts, before its stderr line, report and flush
/// (the first registration wins: there is one observer, health's).
pub(crate) fn on_crash_start(observer: fn()) {
    let _ = ON_CRASH_START.set(observer);
}

/// Sets the deadline of a `CrashProcess` crash (default 5 s): the most time between the panic
/// being caught and the process aborting.
///
/// The deadline is armed before anything else runs, on a watchdog thread of its own that aborts
/// the process when it passes. It covers, in this order: the `mruntime: CrashProcess` line on
/// stderr, the report to every sink (the tracing event, the OpenTelemetry span, the metric, the
/// error reporter's [`report`](crate::ErrorReporter::report)), the [`on_crash`] work and the
/// reporter's [`flush`](crate::ErrorReporter::flush). Whatever is still running when it passes
/// (a reporter, a subscriber or an exporter that hangs) is cut off by the abort. Under
/// `CrashProcess` a supervised task's attempt is reported under the same deadline, so a sink
/// that hangs there ends the process too, instead of leaving the task neither restarted nor
/// given up.
///
/// If the watchdog thread cannot be started (the OS refuses a thread), nothing could bound the
/// report: the process aborts right after the stderr line, reporting nothing else.
///
/// ```
/// mruntime::set_crash_flush_timeout(std::time::Duration::from_secs(2));
/// ```
pub fn set_crash_flush_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    FLUSH_TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The crash-flush timeout, at most a year (so that `Instant + timeout` cannot overflow).
fn crash_timeout() -> Duration {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    Duration::from_millis(FLUSH_TIMEOUT_MS.load(Ordering::Relaxed)).min(YEAR)
}

/// Ends the process for `panicked` under the crash deadline: arms the watchdog, prints the
/// `mruntime: CrashProcess` line, runs `last_words` (the report to every sink, for a panic not
/// reported yet), ends and exports the current span, flushes, aborts.
///
/// Only the first thread to crash does this; a second one waits for the abort, its panic not
/// reported (the process is already ending, and every hook and the reporter must run once). A
/// crash on the thread already crashing (a sink that crashes) aborts at once.
///
/// `std::process::abort` rather than a re-panic: tokio would catch a re-panic in a task and the
/// process would survive.
#[cold]
#[inline(never)]
pub(crate) fn crash(panicked: &Panicked, last_words: impl FnOnce()) -> ! {
    let started = Instant::now();
    let me = std::thread::current().id();
    if *CRASHING.get_or_init(|| me) != me {
        wait_for_abort();
    }
    if CRASHING_HERE
        .try_with(|here| here.replace(true))
        .unwrap_or(true)
    {
        std::process::abort();
    }
    let timeout = crash_timeout();
    let deadline = started + timeout;
    let armed = watchdog::arm(deadline);
    if let Some(observer) = ON_CRASH_START.get() {
        let _ = Silenced::run(observer);
    }
    let summary = Silenced::run(|| egress::stderr_summary(panicked))
        .unwrap_or_else(|_| String::from("a panic that could not be described"));
    let _deadline = match armed {
        Ok(deadline) => deadline,
        Err(error) => {
            say(&format!(
                "mruntime: CrashProcess: {summary}; no watchdog thread ({}), so aborting now \
                 without reporting",
                egress::stderr_text(&error)
            ));
            std::process::abort()
        }
    };
    say(&format!(
        "mruntime: CrashProcess: {summary}; reporting and flushing telemetry for at most {} ms, \
         then aborting",
        timeout.as_millis()
    ));
    let _ = Silenced::run(last_words);
    // Sampling windows with suppressed panics end now: their summaries go out with the flush.
    super::end_sampling_windows();
    // The guard's span is still open (we are inside it): end its OpenTelemetry span now so the
    // span processor exports it with its panic events.
    let _ = Silenced::run(|| {
        let span = Span::current();
        if !span.is_disabled() {
            opentelemetry::trace::TraceContextExt::span(&span.context()).end();
        }
    });
    off_the_runtime(|| flush_until(deadline));
    std::process::abort()
}

/// Runs `wait` with this thread handed off by the runtime when it is a worker of a multi-thread
/// runtime: a worker blocked in a task stalls the I/O driver while the other workers are idle,
/// and then no health probe is answered during the flush (measured: a 3 s flush left every
/// connection unanswered). Elsewhere (a current-thread runtime, a blocking thread, no runtime)
/// it runs `wait` as it is.
fn off_the_runtime(wait: impl FnOnce()) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_thread = Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == RuntimeFlavor::MultiThread);
    let mut wait = Some(wait);
    if multi_thread {
        // block_in_place panics where it cannot hand the thread off (inside `block_on`):
        // then wait here, as on any other thread.
        let _ = Silenced::run(|| {
            tokio::task::block_in_place(|| {
                if let Some(wait) = wait.take() {
                    wait()
                }
            })
        });
    }
    if let Some(wait) = wait.take() {
        wait();
    }
}

/// Reports `panicked` (a supervised attempt under `CrashProcess`) under the crash deadline: a
/// sink that hangs longer than the crash-flush timeout ends the process. Without a watchdog
/// thread the report runs unbounded, as under `KeepRunning`.
pub(crate) fn report_under_deadline(panicked: &Panicked) {
    let _deadline = watchdog::arm(Instant::now() + crash_timeout());
    super::report(panicked);
}

/// A second thread crashing while another crashes: wait for that one's abort, which its
/// watchdog bounds.
fn wait_for_abort() -> ! {
    loop {
        std::thread::park();
    }
}

/// One line on stderr; a failed write is no reason to stop crashing.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs every `on_crash` flush and the reporter's flush on a separate thread, waiting for them
/// until `deadline`.
fn flush_until(deadline: Instant) {
    let hooks: Vec<FlushFn> = ON_CRASH
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let reporter = reporter::current();
    if hooks.is_empty() && reporter.is_none() {
        return;
    }
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
    // `work` is moved into the thread only if it starts; otherwise run it here (the watchdog
    // still bounds it).
    let work = Arc::new(Mutex::new(Some(work)));
    let for_thread = Arc::clone(&work);
    let started = crate::spawn::thread("mruntime-crash-flush", move || {
        let taken = for_thread.lock().ok().and_then(|mut w| w.take());
        if let Some(work) = taken {
            work();
        }
    });
    match started {
        Ok(()) => {
            let _ = finished.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        Err(_) => {
            let taken = work.lock().ok().and_then(|mut w| w.take());
            if let Some(work) = taken {
                work();
            }
        }
    }
}
