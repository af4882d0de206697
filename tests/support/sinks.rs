//! What each sink receives for one panic: the tracing event, the OpenTelemetry span's events and
//! status (through tracing-opentelemetry), and the error reporter. The subscribers are scoped to
//! the calling thread and the reporter keeps reports per thread, so property tests may call
//! [`every_sink`] from parallel test threads; a test binary using it sets no other reporter.

use std::cell::RefCell;
use std::sync::Once;

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorReporter, Panicked};
use opentelemetry::trace::Status;

use crate::Capture;
use crate::otel::{Traces, event_attrs};

thread_local! {
    static REPORTED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Keeps each report's message on the thread that recovered the panic (a sync guard reports on
/// its own thread).
struct ThreadLocalReporter;

impl ErrorReporter for ThreadLocalReporter {
    fn report(&self, panic: &Panicked) {
        REPORTED.with(|r| r.borrow_mut().push(panic.message().to_owned()));
    }
}

/// The text of the panic value as each sink got it, by sink name.
#[derive(Debug)]
pub struct SinkTexts(pub Vec<(&'static str, String)>);

impl SinkTexts {
    /// Each sink's name and text.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(sink, text)| (*sink, text.as_str()))
    }
}

/// What every sink got for a panic with `message`, raised in a `KeepRunning` guard; checks that
/// the `Panicked` the caller holds is the message unchanged.
pub fn every_sink(message: &str) -> SinkTexts {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| mruntime::set_error_reporter(ThreadLocalReporter));
    let raise = || {
        let held = mruntime::guard("sinks", "every", KeepRunning, || panic!("{message}"));
        let held = held.expect_err("the guard recovers the panic");
        assert_eq!(
            held.message(),
            message,
            "the caller's Panicked is untouched"
        );
    };
    let capture = Capture::new();
    tracing::dispatcher::with_default(capture.dispatch(), raise);
    let traces = Traces::new();
    tracing::dispatcher::with_default(&traces.dispatch, raise);
    let reports = REPORTED.with(|r| std::mem::take(&mut *r.borrow_mut()));
    assert_eq!(reports.len(), 2, "one report per panic: {reports:?}");

    let events = capture.panic_events();
    assert_eq!(events.len(), 1, "one tracing event: {events:#?}");
    let span = traces.spans().pop().expect("the guard's span is exported");
    let attr = |event: &str, key: &str| {
        event_attrs(&span, event)
            .and_then(|attrs| attrs.get(key).cloned())
            .unwrap_or_else(|| panic!("no {key} on the span's {event} event: {span:#?}"))
    };
    let status = match &span.status {
        Status::Error { description } => description.to_string(),
        other => panic!("the span's status is an error, got {other:?}"),
    };
    let mut texts = vec![
        (
            "tracing event panic.value",
            events[0]
                .field("panic.value")
                .unwrap_or_default()
                .to_owned(),
        ),
        (
            "span event panic.recovered",
            attr("panic.recovered", "panic.value"),
        ),
        (
            "span event exception",
            attr("exception", "exception.message"),
        ),
        ("span status", status),
    ];
    texts.extend(reports.into_iter().map(|r| ("reporter", r)));
    SinkTexts(texts)
}
