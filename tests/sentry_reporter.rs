//! `mruntime::sentry::SentryReporter`, checked with the sentry crate's own test transport.

use mruntime::PanicPolicy::KeepRunning;
use mruntime::sentry::SentryReporter;
use sentry_core::protocol::Level;

#[test]
fn a_recovered_panic_becomes_a_sentry_exception_event() {
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);
    let events = sentry_core::test::with_captured_events(|| {
        mruntime::set_error_reporter(SentryReporter::new());
        let _ = mruntime::guard("transaction", "balance-sync", KeepRunning, || {
            panic!("balance must not be negative")
        });
        mruntime::clear_error_reporter();
    });

    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.level, Level::Error);
    assert_eq!(event.tags["component"], "transaction");
    assert_eq!(event.tags["goroutine_name"], "balance-sync");
    assert_eq!(event.tags["policy"], "KeepRunning");
    assert_eq!(
        event.transaction.as_deref(),
        Some("transaction/balance-sync")
    );
    assert!(
        event.extra["location"]
            .as_str()
            .unwrap()
            .starts_with("tests/sentry_reporter.rs:")
    );

    let exception = &event.exception.values[0];
    assert_eq!(exception.ty, "panic");
    assert_eq!(
        exception.value.as_deref(),
        Some("balance must not be negative")
    );
    assert_eq!(exception.mechanism.as_ref().unwrap().handled, Some(true));
    let frames = &exception.stacktrace.as_ref().expect("stack frames").frames;
    assert!(
        frames.iter().any(|f| f.function.as_deref().is_some_and(
            |name| name.contains("a_recovered_panic_becomes_a_sentry_exception_event")
        )),
        "the test function is among the frames: {frames:#?}"
    );
    assert!(
        !frames.iter().any(|f| f
            .function
            .as_deref()
            .is_some_and(|n| n.contains("mruntime::guard::hook")
                || n.contains("mruntime::panic::capture")
                || n.contains("rust_begin_unwind"))),
        "hook frames are trimmed"
    );
}
