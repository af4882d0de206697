//! The report of a recovered panic: one ERROR event in the guard's span, exactly once.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::panic::{Panicked, Silenced};
use crate::telemetry::limits::{STACK_LIMIT, VALUE_LIMIT, truncate};

/// Reports `panicked` to every sink. A panic inside a sink (a subscriber, a reporter, an
/// exporter) is contained: the recovered panic keeps its policy, and the fault is described on
/// stderr once per process.
pub(crate) fn report(panicked: &Panicked) {
    if let Err(fault) = Silenced::run(|| emit(panicked)) {
        sink_fault(panicked, fault.as_ref());
    }
}

fn emit(panicked: &Panicked) {
    let location = panicked.location();
    tracing::error!(
        target: "mruntime",
        component = panicked.component(),
        goroutine_name = panicked.name(),
        policy = panicked.policy().as_str(),
        attempt = panicked.attempt(),
        panic.value = %truncate(panicked.message(), VALUE_LIMIT),
        panic.location = location.map(tracing::field::display),
        panic.stack = panicked
            .backtrace()
            .map(|bt| tracing::field::display(truncate(&bt.to_string(), STACK_LIMIT).into_owned())),
        "panic.recovered"
    );
}

static FAULT_REPORTED: AtomicBool = AtomicBool::new(false);

#[cold]
fn sink_fault(panicked: &Panicked, fault: &(dyn std::any::Any + Send)) {
    if FAULT_REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let fault = fault
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| fault.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    eprintln!(
        "mruntime: a telemetry sink panicked while reporting a recovered panic ({fault}); \
         the recovered panic was: {panicked} (further sink faults are not printed)"
    );
}
