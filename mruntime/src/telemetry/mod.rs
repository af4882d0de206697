//! Telemetry: the spans guards run in, and the one report of every recovered panic to every sink
//! (a tracing event, the OpenTelemetry span, the `panic_recovered_total` counter, the error
//! reporter), then the crash path.

mod crash;
pub(crate) mod egress;
pub(crate) mod limits;
mod metrics;
mod redact;
mod reporter;
pub(crate) mod request;
mod restart;
mod span;
mod trace;
mod view;
mod watchdog;

pub(crate) use crash::{crash, report_under_deadline};
pub use crash::{on_crash, set_crash_flush_timeout};
pub(crate) use metrics::{TaskLifecycle, task_metrics_enabled};
pub use metrics::{enable_task_metrics, init_panic_metrics};
pub use redact::{add_secret_keys, set_production_mode};
pub use reporter::{ErrorReporter, clear_error_reporter, set_error_reporter};
pub(crate) use restart::{gave_up, restarted};
pub(crate) use span::{attempt_span, guard_span, new_task_span, task_span, task_span_wanted};

use crate::panic::{Panicked, Silenced};
use view::SinkView;

/// Reports `panicked` once to every sink. Each sink is contained on its own: a panic inside a
/// subscriber, an exporter or a reporter does not stop the other sinks, does not change the
/// recovered panic's policy, and is described on stderr once.
pub(crate) fn report(panicked: &Panicked) {
    let view = SinkView::new(panicked);
    contain("tracing subscriber", panicked, || trace::emit(&view));
    contain("metrics exporter", panicked, || {
        metrics::panic_recovered(panicked)
    });
    contain("error reporter", panicked, || {
        reporter::report(view.for_reporter())
    });
}

/// Runs one sink with the hook silenced; a panic in it is described once on stderr.
fn contain(sink: &str, panicked: &Panicked, f: impl FnOnce()) {
    if let Err(fault) = Silenced::run(f) {
        let fault = fault
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| fault.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("non-string panic payload");
        eprintln!(
            "mruntime: the {sink} panicked ({}) while reporting a recovered panic; \
             the recovered panic keeps its policy: {}",
            egress::stderr_text(fault),
            egress::stderr_summary(panicked)
        );
    }
}
