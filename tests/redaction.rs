//! Production mode and secret redaction, in the log event and in what the reporter gets; the
//! `Panicked` the caller holds is never changed. One test: production mode is process-wide.

use std::sync::{Arc, Mutex};

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorReporter, Panicked};
use mruntime_tests::Capture;

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, bool)>>>);

impl ErrorReporter for Recorder {
    fn report(&self, p: &Panicked) {
        self.0
            .lock()
            .unwrap()
            .push((p.message().to_owned(), p.backtrace().is_some()));
    }
}

#[test]
fn sinks_get_redacted_values_and_callers_keep_theirs() {
    let capture = Capture::new();
    let _default = capture.set_default();
    let recorder = Recorder::default();
    mruntime::set_error_reporter(recorder.clone());
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);

    // Outside production mode: secrets are masked, the rest and the stack are kept.
    let raw = r#"login failed for ana password=hunter2 body={"api_key": "k-123"}"#;
    let p = mruntime::guard("auth", "login", KeepRunning, || panic!("{raw}")).unwrap_err();
    assert_eq!(p.message(), raw, "the caller's Panicked is untouched");
    let masked = r#"login failed for ana password=[REDACTED] body={"api_key": "[REDACTED]"}"#;
    let event = capture.panic_events().pop().unwrap();
    assert_eq!(event.field("panic.value"), Some(masked));
    assert!(event.field("panic.stack").is_some());
    assert_eq!(
        recorder.0.lock().unwrap().pop(),
        Some((masked.to_owned(), true))
    );

    // Production mode: no value, no stack, anywhere.
    mruntime::set_production_mode(true);
    let p = mruntime::guard("auth", "login", KeepRunning, || panic!("card 4111-1111")).unwrap_err();
    mruntime::set_production_mode(false);
    assert_eq!(p.message(), "card 4111-1111");
    assert!(p.backtrace().is_some());
    let event = capture.panic_events().pop().unwrap();
    assert_eq!(
        event.field("panic.value"),
        Some("panic recovered (details redacted)")
    );
    assert_eq!(event.field("panic.stack"), None);
    assert_eq!(
        recorder.0.lock().unwrap().pop(),
        Some(("panic recovered (details redacted)".to_owned(), false))
    );

    // Long values are cut for sinks too, with the marker.
    let long = format!("token=abc {}", "x".repeat(3000));
    let _ = mruntime::guard("auth", "long", KeepRunning, || panic!("{long}"));
    let (value, _) = recorder.0.lock().unwrap().pop().unwrap();
    assert_eq!(value.chars().count(), 1024);
    assert!(value.starts_with("token=[REDACTED] xxx"));
    assert!(value.ends_with("...[truncated]"));
    mruntime::clear_error_reporter();
}
