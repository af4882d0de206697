//! The stack of a real panic in a tokio task: the log event's `panic.stack` keeps the user's
//! frames and collapses the runtime's (for people reading a terminal), while OpenTelemetry's
//! `exception.stacktrace` keeps every frame.

use mruntime::BacktraceCapture;
use mruntime::PanicPolicy::KeepRunning;
use mruntime_tests::Capture;
use mruntime_tests::otel::{Traces, event_attrs};

#[inline(never)]
fn settle_invoice(amount: u64) -> u64 {
    if amount > 10 {
        panic!("invoice too large");
    }
    amount
}

/// Runs a task that panics in [`settle_invoice`], on a runtime reporting to `dispatch`.
fn panic_in_a_task(dispatch: &tracing::Dispatch) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start({
            let dispatch = dispatch.clone();
            move || {
                // The thread's default for its whole life.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            }
        })
        .build()
        .unwrap();
    let failed = tracing::dispatcher::with_default(dispatch, || {
        rt.block_on(async {
            mruntime::spawn("billing", "settle", KeepRunning, async {
                tokio::task::yield_now().await;
                settle_invoice(std::hint::black_box(99))
            })
            .await
        })
    });
    assert!(failed.is_err());
}

#[test]
fn the_log_stack_keeps_user_frames_and_the_exported_stack_keeps_all() {
    mruntime::set_backtrace_capture(BacktraceCapture::Always);

    let capture = Capture::new();
    panic_in_a_task(capture.dispatch());
    let events = capture.panic_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let log_stack = events[0].field("panic.stack").expect("a stack").to_owned();

    let traces = Traces::new();
    panic_in_a_task(&traces.dispatch);
    let span = traces
        .spans()
        .into_iter()
        .find(|s| event_attrs(s, "exception").is_some())
        .expect("a span with the exception");
    let exported = event_attrs(&span, "exception").unwrap()["exception.stacktrace"].clone();

    // Every frame for OpenTelemetry, tokio's included.
    assert!(exported.contains("log_stack::settle_invoice"), "{exported}");
    assert!(exported.contains("tokio::runtime"), "{exported}");

    // For people: the user's frames, each on one line with its location; runtime runs collapsed.
    let first = log_stack.lines().next().unwrap();
    assert!(
        first.starts_with("log_stack::settle_invoice at ") && first.contains("log_stack.rs:"),
        "{log_stack}"
    );
    assert!(
        log_stack.contains("log_stack::panic_in_a_task::{{closure}}"),
        "{log_stack}"
    );
    assert!(log_stack.contains("frames of "), "{log_stack}");
    assert!(
        log_stack.contains("tokio"),
        "the collapsed line names tokio: {log_stack}"
    );
    for line in log_stack.lines() {
        assert!(
            line.starts_with("log_stack::") || line.starts_with("... "),
            "a runtime frame left in: {line:?} of {log_stack}"
        );
    }
    assert!(
        log_stack.len() * 3 < exported.len(),
        "{} bytes for people, {} exported",
        log_stack.len(),
        exported.len()
    );
}
