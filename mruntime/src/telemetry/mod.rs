//! Telemetry: the spans guards run in, and the one report of every recovered panic to every sink
//! (a tracing event, the OpenTelemetry span, the `panic_recovered_total` counter, the error
//! reporter), then the crash path.

mod crash;
pub(crate) mod egress;
mod health;
pub(crate) mod limits;
mod metrics;
mod redact;
mod reporter;
pub(crate) mod request;
mod restart;
mod sampling;
mod span;
mod summary;
mod trace;
mod view;
mod watchdog;

pub(crate) use crash::{crash, on_crash_start, report_under_deadline};
pub use crash::{on_crash, set_crash_flush_timeout};
pub(crate) use health::{health_changed, health_draining};
pub(crate) use metrics::{TaskLifecycle, task_metrics_enabled};
pub use metrics::{enable_task_metrics, init_panic_metrics};
pub use redact::{
    Alphabet, SecretPattern, SecretPatternError, add_secret_keys, add_secret_patterns,
    set_production_mode,
};
pub use reporter::{ErrorReporter, clear_error_reporter, set_error_reporter};
pub(crate) use restart::{gave_up, restarted};
pub(crate) use sampling::sample_panic;
pub use sampling::{PanicSampling, set_panic_sampling};
pub(crate) use span::{
    attempt_span, enter_guard_span, guard_span, make_guard_span, new_task_span, task_span,
    task_span_wanted,
};

use std::cell::Cell;

use crate::panic::{Panicked, Silenced};
use crate::site::Site;
use summary::Summary;
use view::SinkView;

/// One sink of a report, as a bit of [`REPORTING`].
#[derive(Clone, Copy)]
struct Sink {
    bit: u8,
    name: &'static str,
}

const TRACE: Sink = Sink {
    bit: 1,
    name: "tracing subscriber",
};
const METRICS: Sink = Sink {
    bit: 2,
    name: "metrics exporter",
};
const REPORTER: Sink = Sink {
    bit: 4,
    name: "error reporter",
};

thread_local! {
    /// The sinks running a report on this thread now. A panic recovered inside a sink (a
    /// reporter that calls a `#[recover]` fn whose work panics) is reported to the other sinks
    /// only, so reporting never re-enters a sink and nests at most three deep.
    static REPORTING: Cell<u8> = const { Cell::new(0) };
}

/// Reports `panicked` once to every sink. Each sink is contained on its own: a panic inside a
/// subscriber, an exporter or a reporter does not stop the other sinks, does not change the
/// recovered panic's policy, and is described on stderr once.
pub(crate) fn report(panicked: &Panicked) {
    emit_due_summaries();
    let view = SinkView::new(panicked);
    contain(TRACE, panicked, || trace::emit(&view));
    contain(METRICS, panicked, || metrics::panic_recovered(panicked));
    contain(REPORTER, panicked, || reporter::report(view.for_reporter()));
}

/// Reports a panic that sampling suppressed (see `sampling`): counted in
/// `panic_recovered_total` and `panic_log_suppressed_total`, its span marked Error with the
/// interned `status` (formatted when `None`); no event, no exception, no reporter.
pub(crate) fn report_suppressed(site: &Site, status: Option<&'static str>) {
    emit_due_summaries();
    let describe = || format!("a suppressed panic in {}/{}", site.component(), site.name());
    contain_with(METRICS, describe, || metrics::panic_suppressed(site));
    contain_with(TRACE, describe, || trace::mark_suppressed(site, status));
    sampling::ensure_timer();
}

/// Emits the summaries of sampling windows that ended, unless this thread is inside a sink.
#[inline]
fn emit_due_summaries() {
    if REPORTING.try_with(Cell::get).unwrap_or(TRACE.bit) == 0 {
        emit_summaries(sampling::take_due());
    }
}

/// Ends every sampling window with suppressed panics and emits their summaries: at a
/// `TaskGroup`'s shutdown and at a crash, before telemetry is flushed.
pub(crate) fn end_sampling_windows() {
    emit_summaries(sampling::end_all_windows());
}

/// Emits `panic.suppressed` summaries, each contained as a sink is.
fn emit_summaries(summaries: Vec<Summary>) {
    for summary in summaries {
        let describe = || {
            format!(
                "the summary of {} suppressed panics in {}/{}",
                summary.count, summary.component, summary.name
            )
        };
        contain_with(TRACE, describe, || summary.emit());
    }
}

/// Runs one sink with the hook silenced, unless the panic was recovered inside that very sink;
/// a panic in it is described once on stderr, and its payload dropped without escaping.
fn contain(sink: Sink, panicked: &Panicked, f: impl FnOnce()) {
    contain_with(sink, || egress::stderr_summary(panicked), f);
}

/// [`contain`], the report described by `describe` (called only if the sink panics).
fn contain_with(sink: Sink, describe: impl FnOnce() -> String, f: impl FnOnce()) {
    let active = REPORTING.try_with(Cell::get).unwrap_or(sink.bit);
    if active & sink.bit != 0 {
        return;
    }
    let _ = REPORTING.try_with(|r| r.set(active | sink.bit));
    let result = Silenced::run(f);
    let _ = REPORTING.try_with(|r| r.set(active));
    if let Err(fault) = result {
        egress::write_stderr_line(format_args!(
            "mruntime: the {} panicked ({}) while reporting a recovered panic; \
             the recovered panic keeps its policy: {}",
            sink.name,
            egress::stderr_text(fault.message().unwrap_or("non-string panic payload")),
            describe()
        ));
    }
}
