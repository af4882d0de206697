//! The error reporter gets every recovered panic once, with its tags; a panicking reporter or
//! subscriber is contained. The reporter is process-wide, so these tests take turns.

use std::sync::{Arc, Mutex, MutexGuard};

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorReporter, Panicked};
use mruntime_tests::{Capture, child_scenario, run_child};

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    component: String,
    name: String,
    policy: String,
    message: String,
    location: Option<String>,
    has_backtrace: bool,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl ErrorReporter for Recorder {
    fn report(&self, p: &Panicked) {
        self.0.lock().unwrap().push(Seen {
            component: p.component().into(),
            name: p.name().into(),
            policy: p.policy().to_string(),
            message: p.message().into(),
            location: p.location().map(|l| l.to_string()),
            has_backtrace: p.backtrace().is_some(),
        });
    }
}

impl Recorder {
    fn seen(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

#[test]
fn reporter_gets_each_panic_once_with_its_tags() {
    let _turn = turn();
    let recorder = Recorder::default();
    mruntime::set_error_reporter(recorder.clone());
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);

    let line = line!() + 2;
    let _ = mruntime::guard("outer", "o", KeepRunning, || {
        let _ = mruntime::guard("billing", "invoice", KeepRunning, || panic!("no customer"));
    });
    mruntime::guard("billing", "fine", KeepRunning, || ()).unwrap();
    mruntime::clear_error_reporter();
    let _ = mruntime::guard("billing", "after-clear", KeepRunning, || panic!("unseen"));

    assert_eq!(
        recorder.seen(),
        [Seen {
            component: "billing".into(),
            name: "invoice".into(),
            policy: "KeepRunning".into(),
            message: "no customer".into(),
            location: Some(format!("{}:{line}:71", file!())),
            has_backtrace: true,
        }]
    );
}

struct PanickingReporter;

impl ErrorReporter for PanickingReporter {
    fn report(&self, _: &Panicked) {
        panic!("reporter is broken");
    }
}

/// A tracing layer that panics on every event.
struct PanickingLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PanickingLayer {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        panic!("subscriber is broken");
    }
}

#[test]
fn broken_sinks_are_contained() {
    match child_scenario().as_deref() {
        Some("broken_sinks") => {
            use tracing_subscriber::layer::SubscriberExt;
            let _turn = turn();
            mruntime::set_error_reporter(PanickingReporter);
            let subscriber = tracing_subscriber::registry().with(PanickingLayer);
            let result = tracing::subscriber::with_default(subscriber, || {
                mruntime::guard("c", "n", KeepRunning, || panic!("original"))
            });
            // Still recovered, with the original payload, and the caller goes on.
            assert_eq!(result.unwrap_err().message(), "original");
            mruntime::clear_error_reporter();
            println!("CALLER WENT ON");
        }
        Some(other) => unreachable!("{other}"),
        None => {
            let outcome = run_child("broken_sinks_are_contained", "broken_sinks");
            assert!(outcome.status.success(), "{outcome:#?}");
            assert!(outcome.stdout.contains("CALLER WENT ON"), "{outcome:#?}");
            // opentelemetry's internal logs go through `tracing` too when a crate in the build
            // turns on its `internal-logs` feature (opentelemetry-prometheus does): then the
            // metrics sink meets the broken subscriber as well, and is contained the same way.
            let (metrics_faults, faults): (Vec<_>, Vec<_>) = outcome
                .stderr
                .lines()
                .filter(|l| l.starts_with("mruntime: the "))
                .partition(|l| {
                    l.starts_with("mruntime: the metrics exporter panicked (subscriber is broken)")
                });
            assert!(metrics_faults.len() <= 1, "{outcome:#?}");
            assert_eq!(faults.len(), 2, "one line per broken sink: {outcome:#?}");
            assert!(faults[0].contains("tracing subscriber panicked (subscriber is broken)"));
            assert!(faults[1].contains("error reporter panicked (reporter is broken)"));
            assert!(
                faults
                    .iter()
                    .chain(&metrics_faults)
                    .all(|l| l.ends_with(": original")),
                "{faults:#?}"
            );
            // Not printed a second time by the default hook.
            assert!(!outcome.stderr.contains("panicked at"), "{outcome:#?}");
        }
    }
}

#[test]
fn a_panicking_reporter_does_not_stop_metrics_or_tracing() {
    let _turn = turn();
    let capture = Capture::new();
    let _default = capture.set_default();
    mruntime::set_error_reporter(PanickingReporter);
    let result = mruntime::guard("c", "still-traced", KeepRunning, || panic!("x"));
    mruntime::clear_error_reporter();
    assert!(result.is_err());
    assert_eq!(capture.panic_events().len(), 1);
}
