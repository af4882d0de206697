//! The span trace at the panic point: the chain of spans current where a guarded panic was raised,
//! innermost first, on the `Panicked`, the `panic.recovered` event, the OpenTelemetry exception
//! event and the Sentry report; redacted, bounded, withheld in production mode; for panics
//! caught elsewhere too.
//!
//! The reporter is process-wide: each test uses its own component and reads back only its
//! reports.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorLayer, ErrorReporter, Panicked};
use mruntime_tests::otel::{Traces, event_attrs};
use mruntime_tests::{Capture, child_scenario, run_child};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Keeps the fields of every `panic.recovered` event.
#[derive(Clone, Default)]
struct PanicEvents(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct FieldsOf<'a>(&'a mut BTreeMap<String, String>);

impl Visit for FieldsOf<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for PanicEvents {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if event.metadata().name() != "panic.recovered" {
            return;
        }
        let mut fields = BTreeMap::new();
        event.record(&mut FieldsOf(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

impl PanicEvents {
    /// The `panic.span_trace` field of every event so far.
    fn span_traces(&self) -> Vec<Option<String>> {
        let events = self.0.lock().unwrap();
        events
            .iter()
            .map(|e| e.get("panic.span_trace").cloned())
            .collect()
    }
}

/// A subscriber with the `ErrorLayer` (span fields) and a layer keeping the panic events.
fn with_error_layer() -> (Dispatch, PanicEvents) {
    let events = PanicEvents::default();
    let subscriber = tracing_subscriber::registry()
        .with(ErrorLayer::default())
        .with(events.clone());
    (Dispatch::new(subscriber), events)
}

/// Keeps the span trace of every report of one component.
#[derive(Clone)]
struct Reported {
    component: &'static str,
    traces: Arc<Mutex<Vec<Option<String>>>>,
}

impl ErrorReporter for Reported {
    fn report(&self, p: &Panicked) {
        if p.component() == self.component {
            let trace = p.span_trace().map(str::to_owned);
            self.traces.lock().unwrap().push(trace);
        }
    }
}

/// The process-wide reporter is set by one test at a time.
static REPORTER_TURN: Mutex<()> = Mutex::new(());

/// Keeps the reports of `component` until the returned guard is dropped (then no reporter).
fn report_span_traces(component: &'static str) -> (Arc<Mutex<Vec<Option<String>>>>, ReporterTurn) {
    let turn = REPORTER_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let traces = Arc::new(Mutex::new(Vec::new()));
    mruntime::set_error_reporter(Reported {
        component,
        traces: traces.clone(),
    });
    (traces, ReporterTurn(turn))
}

/// This test's turn with the process-wide reporter; clears it when dropped.
struct ReporterTurn(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

impl Drop for ReporterTurn {
    fn drop(&mut self) {
        mruntime::clear_error_reporter();
    }
}

#[test]
fn with_the_error_layer_the_trace_lists_every_span_with_its_fields_innermost_first() {
    let (dispatch, events) = with_error_layer();
    let p = tracing::dispatcher::with_default(&dispatch, || {
        let _request =
            tracing::info_span!(target: "app::http", "http.request", path = "/transfer").entered();
        let _handler =
            tracing::info_span!(target: "app::api", "handler.transfer", request_id = 7).entered();
        mruntime::guard("st-fields", "debit", KeepRunning, || {
            let _db = tracing::info_span!(target: "app::db", "db.debit", account = 42).entered();
            panic!("insufficient funds")
        })
        .unwrap_err()
    });

    let trace = p.span_trace().expect("a span trace");
    let lines: Vec<&str> = trace.lines().collect();
    assert_eq!(
        lines,
        [
            "app::db: db.debit{account=42}",
            "mruntime: mruntime.guard{component=\"st-fields\" name=\"debit\" policy=\"KeepRunning\" \
             otel.name=\"debit\"}",
            "app::api: handler.transfer{request_id=7}",
            "app::http: http.request{path=\"/transfer\"}",
        ],
        "{trace}"
    );
    assert_eq!(events.span_traces(), [Some(trace.to_owned())]);
}

#[test]
fn with_a_bare_registry_the_trace_has_the_names_and_targets() {
    // The support capture is a `Registry` with a layer of its own: no `ErrorLayer`, no fmt.
    let capture = Capture::new();
    let _default = capture.set_default();
    let p = {
        let _handler =
            tracing::info_span!(target: "app::api", "handler.transfer", request_id = 7).entered();
        mruntime::guard("st-names", "debit", KeepRunning, || {
            let _db = tracing::info_span!(target: "app::db", "db.debit", account = 42).entered();
            panic!("insufficient funds")
        })
        .unwrap_err()
    };

    let want = "app::db: db.debit\nmruntime: mruntime.guard\napp::api: handler.transfer";
    assert_eq!(p.span_trace(), Some(want));
    let event = capture.panic_events().pop().unwrap();
    assert_eq!(event.field("panic.span_trace"), Some(want));
}

#[test]
fn with_a_fmt_layer_and_no_error_layer_the_trace_has_the_fields_fmt_recorded() {
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::sink)
            .with_ansi(false),
    );
    let p = tracing::subscriber::with_default(subscriber, || {
        mruntime::guard("st-fmt", "debit", KeepRunning, || {
            let _db = tracing::info_span!(target: "app::db", "db.debit", account = 42).entered();
            panic!("insufficient funds")
        })
        .unwrap_err()
    });
    let trace = p.span_trace().unwrap();
    assert_eq!(trace.lines().next(), Some("app::db: db.debit{account=42}"));
}

#[test]
fn without_a_subscriber_there_is_no_trace() {
    let p = tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        mruntime::guard("st-none", "debit", KeepRunning, || -> () {
            let _db = tracing::info_span!("db.debit", account = 42).entered();
            panic!("insufficient funds")
        })
        .unwrap_err()
    });
    assert_eq!(p.span_trace(), None);
}

#[test]
fn a_secret_span_field_never_leaves_the_process() {
    let (traces, turn) = report_span_traces("st-secret");
    let (dispatch, events) = with_error_layer();
    let p = tracing::dispatcher::with_default(&dispatch, || {
        mruntime::guard("st-secret", "login", KeepRunning, || {
            let _db = tracing::info_span!(
                target: "app::auth",
                "auth.login",
                user = "ana",
                password = "hunter2",
                token = %"t-0123456789",
            )
            .entered();
            panic!("login failed")
        })
        .unwrap_err()
    });
    drop(turn);

    assert!(
        p.span_trace().unwrap().contains("hunter2"),
        "the caller's copy is untouched"
    );
    let want = "app::auth: auth.login{user=\"ana\" password=\"[REDACTED]\" token=[REDACTED]}";
    let event_trace = events.span_traces().pop().unwrap().unwrap();
    assert_eq!(event_trace.lines().next(), Some(want), "{event_trace}");
    let reported = traces.lock().unwrap().pop().unwrap().unwrap();
    assert_eq!(reported, event_trace);
    let sentry = mruntime::sentry::SentryReporter::event(&p);
    let context = format!("{:?}", sentry.contexts["span_trace"]);
    assert!(!context.contains("hunter2") && !context.contains("t-0123"));
    assert!(
        sentry
            .breadcrumbs
            .iter()
            .all(|b| !b.message.as_deref().unwrap().contains("hunter2"))
    );
}

/// `depth` spans nested, the innermost current at the panic.
fn panic_in_nested_spans(depth: usize, field: &str) -> Panicked {
    fn nest(depth: usize, field: &str) -> Panicked {
        if depth == 0 {
            return mruntime::guard("st-bounds", "deep", KeepRunning, || -> () {
                panic!("too deep")
            })
            .unwrap_err();
        }
        let _span = tracing::info_span!("level", depth, note = field).entered();
        nest(depth - 1, field)
    }
    nest(depth, field)
}

#[test]
fn the_trace_keeps_the_innermost_32_spans_and_at_most_4_kb() {
    let (dispatch, events) = with_error_layer();
    tracing::dispatcher::with_default(&dispatch, || {
        // 40 spans of ours and the guard's: the 32 innermost, then how many were left out.
        let p = panic_in_nested_spans(40, "x");
        let trace = p.span_trace().unwrap();
        let lines: Vec<&str> = trace.lines().collect();
        assert_eq!(lines.len(), 33, "{trace}");
        assert!(lines[0].starts_with("mruntime: mruntime.guard{"));
        assert_eq!(lines[1], "span_trace: level{depth=1 note=\"x\"}");
        assert_eq!(lines[31], "span_trace: level{depth=31 note=\"x\"}");
        assert_eq!(lines[32], "... 9 more spans");

        // Huge fields: each span's are cut, and the whole trace stays within 4 KB.
        let huge = "y".repeat(100_000);
        let p = panic_in_nested_spans(8, &huge);
        let trace = p.span_trace().unwrap();
        assert!(trace.len() <= 4096, "{}", trace.len());
        assert!(trace.ends_with("...[truncated]"), "{trace}");
        assert!(
            trace.lines().count() >= 4,
            "a huge field does not hide the other spans"
        );
    });
    let traces = events.span_traces();
    assert_eq!(traces.len(), 2);
    assert!(traces.iter().all(|t| t.as_ref().unwrap().len() <= 4096));
}

#[test]
fn a_panic_caught_elsewhere_carries_the_trace_of_its_panic_point() {
    let (traces, turn) = report_span_traces("st-elsewhere");
    let (dispatch, events) = with_error_layer();
    let value = tracing::dispatcher::with_default(&dispatch, || {
        mruntime::guard("st-elsewhere", "import", KeepRunning, || {
            let _row = tracing::info_span!(target: "app::import", "import.row", row = 17).entered();
            std::panic::catch_unwind(|| panic!("bad row")).is_err()
        })
    });
    drop(turn);

    assert!(value.unwrap());
    let reported = traces.lock().unwrap().pop().unwrap().unwrap();
    assert!(
        reported.starts_with("app::import: import.row{row=17}\nmruntime: mruntime.guard{"),
        "{reported}"
    );
    assert_eq!(events.span_traces(), [Some(reported)]);
}

#[test]
fn the_exception_span_event_carries_the_trace() {
    let traces = Traces::new();
    tracing::dispatcher::with_default(&traces.dispatch, || {
        let _ = mruntime::guard("st-otel", "debit", KeepRunning, || {
            let _db = tracing::info_span!(target: "app::db", "db.debit").entered();
            panic!("insufficient funds")
        });
    });
    let guard_span = traces.span_named("debit");
    let exception = event_attrs(&guard_span, "exception").expect("an exception event");
    assert_eq!(
        exception.get("panic.span_trace").map(String::as_str),
        Some("app::db: db.debit\nmruntime: mruntime.guard")
    );
}

#[test]
fn the_sentry_report_carries_the_trace_as_a_context_and_breadcrumbs() {
    let (dispatch, _events) = with_error_layer();
    let _turn = REPORTER_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let events = sentry_core::test::with_captured_events(|| {
        mruntime::set_error_reporter(mruntime::sentry::SentryReporter::new());
        tracing::dispatcher::with_default(&dispatch, || {
            let _handler =
                tracing::info_span!(target: "app::api", "handler.transfer", request_id = 7)
                    .entered();
            let _ = mruntime::guard("st-sentry", "debit", KeepRunning, || {
                let _db =
                    tracing::info_span!(target: "app::db", "db.debit", account = 42).entered();
                panic!("insufficient funds")
            });
        });
        mruntime::clear_error_reporter();
    });
    let event = events
        .iter()
        .find(|e| e.tags.get("component").map(String::as_str) == Some("st-sentry"))
        .expect("the panic's event");

    let sentry_core::protocol::Context::Other(context) = &event.contexts["span_trace"] else {
        panic!("{:?}", event.contexts);
    };
    let spans: Vec<&str> = context["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(spans.len(), 3, "{spans:?}");
    assert_eq!(spans[0], "app::db: db.debit{account=42}");
    assert_eq!(spans[2], "app::api: handler.transfer{request_id=7}");

    let crumbs: Vec<&str> = event
        .breadcrumbs
        .iter()
        .filter(|b| b.category.as_deref() == Some("tracing.span"))
        .map(|b| b.message.as_deref().unwrap())
        .collect();
    let outermost_first: Vec<&str> = spans.iter().rev().copied().collect();
    assert_eq!(crumbs, outermost_first);
}

#[test]
fn production_mode_withholds_the_trace_with_the_message() {
    if child_scenario().as_deref() == Some("production") {
        let (traces, _turn) = report_span_traces("st-production");
        let (dispatch, events) = with_error_layer();
        let p = tracing::dispatcher::with_default(&dispatch, || {
            mruntime::set_production_mode(true);
            mruntime::guard("st-production", "debit", KeepRunning, || {
                let _db = tracing::info_span!("db.debit", account = 42).entered();
                panic!("insufficient funds")
            })
            .unwrap_err()
        });
        assert!(p.span_trace().is_some(), "the caller's copy keeps it");
        assert_eq!(events.span_traces(), [None]);
        assert_eq!(*traces.lock().unwrap(), [None]);
        let sentry = mruntime::sentry::SentryReporter::event(&p);
        assert!(!sentry.contexts.contains_key("span_trace"));
        assert!(sentry.breadcrumbs.is_empty());
        println!("CHILD-OK");
        return;
    }
    let outcome = run_child(
        "production_mode_withholds_the_trace_with_the_message",
        "production",
    );
    assert!(
        outcome.status.success() && outcome.stdout.contains("CHILD-OK"),
        "{outcome:#?}"
    );
}
