//! What a tracing-opentelemetry pipeline exports for a recovered panic: the span named after the
//! task or handler, its `panic.recovered` and `exception` events, its Error status, its parent.

use mruntime::PanicPolicy::KeepRunning;
use mruntime_tests::otel::{Traces, event_attrs};
use opentelemetry::trace::Status;

#[test]
fn recovered_panic_marks_the_exported_span() {
    let traces = Traces::new();
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);
    tracing::dispatcher::with_default(&traces.dispatch, || {
        let _ = mruntime::guard("onboarding", "handler.create_account", KeepRunning, || {
            panic!("input must not be nil")
        });
    });

    let span = traces.span_named("handler.create_account");
    assert_eq!(
        span.status,
        Status::error("panic recovered in onboarding/handler.create_account")
    );

    let recovered = event_attrs(&span, "panic.recovered").expect("panic.recovered event");
    assert_eq!(recovered["panic.value"], "input must not be nil");
    assert_eq!(recovered["panic.component"], "onboarding");
    assert_eq!(recovered["panic.goroutine_name"], "handler.create_account");
    assert_eq!(recovered["policy"], "KeepRunning");
    assert!(recovered["panic.location"].starts_with("tests/telemetry_traces.rs:"));
    let stack = &recovered["panic.stack"];
    assert!(stack.contains("telemetry_traces"), "{stack}");
    assert!(
        !stack.contains("mruntime::guard::hook")
            && !stack.contains("mruntime::panic::capture")
            && !stack.contains("rust_begin_unwind"),
        "hook frames are trimmed: {stack}"
    );
    assert!(stack.chars().count() <= 4096);

    let exception = event_attrs(&span, "exception").expect("exception event");
    assert_eq!(exception["exception.type"], "&str");
    assert_eq!(exception["exception.message"], "input must not be nil");
    // The real backtrace, every frame (the event's `panic.stack` collapses the runtime's).
    let full = &exception["exception.stacktrace"];
    assert!(
        full.contains("telemetry_traces") && full.len() >= stack.len(),
        "{full}"
    );
}

#[test]
fn task_span_is_named_after_the_task_and_parented_at_the_spawn() {
    let traces = Traces::new();
    // As in a service with a global subscriber, every worker reports to the pipeline (the
    // registry closes a parent span through the closing thread's default subscriber).
    let dispatch = traces.dispatch.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&dispatch)))
        .enable_all()
        .build()
        .unwrap();
    let _in_runtime = rt.enter();
    tracing::dispatcher::with_default(&traces.dispatch, || {
        let parent = tracing::info_span!("request");
        let handle = parent.in_scope(|| {
            mruntime::spawn("notification", "email-sender", KeepRunning, async {
                tokio::task::yield_now().await;
                panic!("smtp down")
            })
        });
        assert!(rt.block_on(handle).unwrap_err().is_panic());
    });
    // Joins the workers, so every span they dropped is closed and exported.
    drop(_in_runtime);
    drop(rt);

    let task = traces.span_named("email-sender");
    let parent = traces.span_named("request");
    assert_eq!(task.parent_span_id, parent.span_context.span_id());
    assert_eq!(task.span_context.trace_id(), parent.span_context.trace_id());
    assert_eq!(
        task.status,
        Status::error("panic recovered in notification/email-sender")
    );
    let recovered = event_attrs(&task, "panic.recovered").unwrap();
    assert_eq!(recovered["panic.value"], "smtp down");
    assert_eq!(
        event_attrs(&task, "exception").unwrap()["exception.message"],
        "smtp down"
    );
    // The parent span is not marked: the panic was recovered below it.
    assert_eq!(parent.status, Status::Unset);
}

#[test]
fn a_span_without_a_panic_is_exported_unmarked() {
    let traces = Traces::new();
    tracing::dispatcher::with_default(&traces.dispatch, || {
        mruntime::guard("ledger", "sum", KeepRunning, || 1).unwrap();
    });
    let span = traces.span_named("sum");
    assert_eq!(span.status, Status::Unset);
    assert!(span.events.is_empty());
}
