//! Panic sampling per site (`set_panic_sampling`): the first panics of a site in each window get
//! the full report, the rest are counted only, and one `panic.suppressed` summary per window
//! says how many; counts stay exact. Real sinks: a tracing subscriber with the OpenTelemetry
//! layer (in-memory span exporter), an SDK meter provider, an error reporter.
//!
//! Sampling is process-wide, so the tests of this file run one at a time ([`serial`]); the ones
//! that end the process or fill the site table run in a child process.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use mruntime::PanicPolicy::{CrashProcess, KeepRunning};
use mruntime::{ErrorReporter, PanicSampling, Panicked, TaskGroup};
use mruntime_tests::otel::{Metrics, event_attrs, panic_labels};
use mruntime_tests::{child_scenario, run_child};
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// One test at a time: sampling, the reporter and the meter are process-wide.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    mruntime::set_panic_sampling(PanicSampling::off());
    // A global registry, so no callsite's interest is cached as "never" (see support's Capture).
    let _ = mruntime_tests::Capture::new();
    metrics();
    guard
}

/// The meter every test counts through (set once: counters are cumulative, so each test uses
/// its own component).
fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let metrics = Metrics::new();
        mruntime::init_panic_metrics(opentelemetry::metrics::MeterProvider::meter(
            &metrics.provider,
            "panic-sampling-test",
        ));
        metrics
    })
}

fn counter(name: &str, labels: BTreeMap<String, String>) -> u64 {
    metrics()
        .u64_sum(name)
        .into_iter()
        .find(|(attrs, _)| *attrs == labels)
        .map_or(0, |(_, n)| n)
}

fn recovered_total(component: &str, name: &str) -> u64 {
    counter(
        "panic_recovered_total",
        panic_labels(component, name, "KeepRunning"),
    )
}

fn suppressed_total(component: &str, name: &str) -> u64 {
    let mut labels = panic_labels(component, name, "KeepRunning");
    labels.remove("policy");
    counter("panic_log_suppressed_total", labels)
}

/// An event as the subscriber saw it: its message and fields as text.
#[derive(Debug, Clone)]
struct Recorded {
    message: String,
    fields: BTreeMap<String, String>,
}

impl Recorded {
    fn field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map_or_else(|| panic!("no field {name} in {self:#?}"), String::as_str)
    }
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Recorded { message, fields });
    }
}

/// The tracing and OpenTelemetry sinks of a test.
struct Sinks {
    events: Recorder,
    spans: InMemorySpanExporter,
    _provider: SdkTracerProvider,
    dispatch: Dispatch,
}

impl Sinks {
    fn new() -> Sinks {
        let spans = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let events = Recorder::default();
        let subscriber = tracing_subscriber::registry()
            .with(events.clone())
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("sampling")));
        Sinks {
            events,
            spans,
            _provider: provider,
            dispatch: Dispatch::new(subscriber),
        }
    }

    fn events(&self, message: &str, name: &str) -> Vec<Recorded> {
        self.events
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|e| {
                e.message == message && e.fields.get("goroutine_name").map(|n| &**n) == Some(name)
            })
            .cloned()
            .collect()
    }

    /// The `count` of every `panic.suppressed` summary of `name`, summed.
    fn summarised(&self, name: &str) -> u64 {
        self.events("panic.suppressed", name)
            .iter()
            .map(|e| e.field("count").parse::<u64>().unwrap())
            .sum()
    }

    fn spans(&self, name: &str) -> Vec<SpanData> {
        let spans = self.spans.get_finished_spans().unwrap();
        spans.into_iter().filter(|s| s.name == name).collect()
    }
}

/// What the reporter received.
#[derive(Debug, Clone)]
struct Report {
    component: String,
    name: String,
    message: String,
    suppressed_before: u64,
}

#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<Report>>>);

impl ErrorReporter for Reports {
    fn report(&self, p: &Panicked) {
        self.0.lock().unwrap().push(Report {
            component: p.component().into(),
            name: p.name().into(),
            message: p.message().into(),
            suppressed_before: p.suppressed_before(),
        });
    }
}

impl Reports {
    fn install() -> Reports {
        let reports = Reports::default();
        mruntime::set_error_reporter(reports.clone());
        reports
    }

    fn of(&self, component: &str, name: &str) -> Vec<Report> {
        let reports = self.0.lock().unwrap();
        let mine = reports
            .iter()
            .filter(|r| r.component == component && r.name == name);
        mine.cloned().collect()
    }
}

fn panic_in(component: &'static str, name: &'static str, message: String) -> Panicked {
    mruntime::guard(component, name, KeepRunning, || -> () {
        panic!("{message}")
    })
    .unwrap_err()
}

#[test]
fn counts_are_exact_with_four_threads_panicking_at_once() {
    let _serial = serial();
    let sinks = Sinks::new();
    let reports = Reports::install();
    const COMPONENT: &str = "sampling-exact";
    const NAMES: [&str; 4] = ["a", "b", "c", "d"];
    const PER_THREAD: u64 = 250;
    // A short window, so that windows end (and are summarised) while the storm goes on.
    mruntime::set_panic_sampling(PanicSampling::per_site(3, Duration::from_millis(5)));
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
                for _ in 0..PER_THREAD {
                    for name in NAMES {
                        let _ = mruntime::guard(COMPONENT, name, KeepRunning, || panic!("storm"));
                    }
                }
            });
        }
    });
    mruntime::set_panic_sampling(PanicSampling::off()); // ends the open windows
    mruntime::clear_error_reporter();

    for name in NAMES {
        let total = recovered_total(COMPONENT, name);
        let suppressed = suppressed_total(COMPONENT, name);
        let events = sinks.events("panic.recovered", name).len() as u64;
        assert_eq!(total, 4 * PER_THREAD, "{name}: every panic counted");
        assert_eq!(events + suppressed, total, "{name}: events + suppressed");
        assert!(
            suppressed > 0 && events >= 3,
            "{name}: {events} events, {suppressed} suppressed"
        );
        assert_eq!(
            sinks.summarised(name),
            suppressed,
            "{name}: the summaries add up"
        );
        let reported = reports.of(COMPONENT, name);
        assert_eq!(
            reported.len() as u64,
            events,
            "{name}: one report per event"
        );
        let carried: u64 = reported.iter().map(|r| r.suppressed_before).sum();
        assert!(
            carried <= suppressed,
            "{name}: {carried} carried of {suppressed}"
        );
        // OpenTelemetry: every panic's span ends with status Error, and only the reported ones
        // have an `exception` event.
        let spans = sinks.spans(name);
        assert_eq!(spans.len() as u64, total, "{name}: every span exported");
        assert!(
            spans
                .iter()
                .all(|s| matches!(s.status, Status::Error { .. }))
        );
        let with_exception = spans
            .iter()
            .filter(|s| event_attrs(s, "exception").is_some())
            .count() as u64;
        assert_eq!(with_exception, events, "{name}: exception events");
    }
}

#[test]
fn a_window_reports_its_first_panics_and_the_next_report_carries_the_rest() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    let reports = Reports::install();
    mruntime::set_panic_sampling(PanicSampling::per_site(2, Duration::from_millis(300)));
    let started = Instant::now();
    let panicked: Vec<Panicked> = (1..=5)
        .map(|i| panic_in("sampling-window", "import", format!("bad row {i}")))
        .collect();
    assert!(started.elapsed() < Duration::from_millis(300), "one window");
    assert_eq!(sinks.events("panic.recovered", "import").len(), 2);
    assert_eq!(suppressed_total("sampling-window", "import"), 3);
    // The caller still gets every panic, with its message and location.
    assert_eq!(panicked[4].message(), "bad row 5");
    assert_eq!(panicked[4].location(), panicked[0].location());
    std::thread::sleep(Duration::from_millis(320));
    let next = panic_in("sampling-window", "import", "bad row 6".into());
    mruntime::set_panic_sampling(PanicSampling::off());
    mruntime::clear_error_reporter();

    assert_eq!(next.suppressed_before(), 3);
    let reported = reports.of("sampling-window", "import");
    let carried: Vec<u64> = reported.iter().map(|r| r.suppressed_before).collect();
    assert_eq!(
        carried,
        [0, 0, 3],
        "the report after the window carries its count"
    );
    assert_eq!(reported[2].message, "bad row 6");
    let events = sinks.events("panic.recovered", "import");
    assert_eq!(events.len(), 3, "a new window: reported again");
    assert_eq!(events[2].field("panic.suppressed_before"), "3");

    let summaries = sinks.events("panic.suppressed", "import");
    assert_eq!(summaries.len(), 1, "{summaries:#?}");
    let summary = &summaries[0];
    assert_eq!(summary.field("component"), "sampling-window");
    assert_eq!(summary.field("count"), "3");
    assert_eq!(
        summary.field("panic.value"),
        "bad row 5",
        "the last message"
    );
    assert_eq!(
        summary.field("panic.location"),
        panicked[0].location().unwrap().to_string()
    );
    let (first, last) = (summary.field("first_time"), summary.field("last_time"));
    assert!(
        first.ends_with('Z') && first.len() == 24,
        "RFC 3339: {first}"
    );
    assert!(first <= last, "{first} .. {last}");
}

#[test]
fn a_suppressed_panic_takes_no_backtrace_and_sends_nothing() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    let reports = Reports::install();
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Always);
    mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_secs(60)));
    let first = panic_in("sampling-quiet", "parse", "bad".into());
    let second = panic_in("sampling-quiet", "parse", "bad".into());
    mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Env);
    assert!(first.backtrace().is_some());
    assert!(
        second.backtrace().is_none(),
        "decided in the hook: no backtrace taken"
    );
    assert!(second.location().is_some());
    assert_eq!(reports.of("sampling-quiet", "parse").len(), 1);
    assert_eq!(sinks.events("panic.recovered", "parse").len(), 1);
    assert!(
        sinks.events("panic.suppressed", "parse").is_empty(),
        "the window is open"
    );
    mruntime::set_panic_sampling(PanicSampling::off());
    mruntime::clear_error_reporter();
    assert_eq!(
        sinks.summarised("parse"),
        1,
        "turning sampling off ends the window"
    );
}

#[test]
fn the_summary_goes_through_the_egress_gate() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    mruntime::set_panic_sampling(PanicSampling::per_site(0, Duration::from_secs(60)));
    panic_in(
        "sampling-egress",
        "login",
        "password=hunter2 rejected".into(),
    );
    mruntime::set_panic_sampling(PanicSampling::off());
    let summary = &sinks.events("panic.suppressed", "login")[0];
    assert_eq!(summary.field("panic.value"), "password=[REDACTED] rejected");

    mruntime::set_production_mode(true);
    mruntime::set_panic_sampling(PanicSampling::per_site(0, Duration::from_secs(60)));
    panic_in("sampling-egress", "login", "card 4111".into());
    mruntime::set_panic_sampling(PanicSampling::off());
    mruntime::set_production_mode(false);
    let summaries = sinks.events("panic.suppressed", "login");
    assert!(
        !summaries[1].field("panic.value").contains("4111"),
        "{summaries:#?}"
    );
}

#[test]
fn the_timer_ends_a_window_whose_site_went_quiet() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_millis(50)));
    for _ in 0..3 {
        panic_in("sampling-timer", "poll", "down".into());
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while sinks.events("panic.suppressed", "poll").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let summaries = sinks.events("panic.suppressed", "poll");
    mruntime::set_panic_sampling(PanicSampling::off());
    assert_eq!(summaries.len(), 1, "the timer summarised the window");
    assert_eq!(summaries[0].field("count"), "2");
}

#[test]
fn a_task_group_shutdown_ends_the_windows() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_secs(600)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let group = TaskGroup::new();
        let handle = group
            .task("sampling-shutdown", "worker")
            .spawn(|_ctx| async {
                for _ in 0..4 {
                    panic_in("sampling-shutdown", "worker-item", "poison".into());
                }
            });
        handle.await.unwrap();
        assert!(sinks.events("panic.suppressed", "worker-item").is_empty());
        group.shutdown(Duration::from_secs(1)).await;
    });
    let summaries = sinks.events("panic.suppressed", "worker-item");
    mruntime::set_panic_sampling(PanicSampling::off());
    assert_eq!(summaries.len(), 1, "shutdown summarised the open window");
    assert_eq!(summaries[0].field("count"), "3");
}

#[test]
fn panics_caught_elsewhere_are_sampled_like_others() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    let reports = Reports::install();
    mruntime::set_panic_sampling(PanicSampling::per_site(2, Duration::from_secs(60)));
    let caught = mruntime::guard("sampling-elsewhere", "batch", KeepRunning, || {
        (0..5)
            .filter(|_| std::panic::catch_unwind(|| panic!("bad item")).is_err())
            .count()
    });
    mruntime::set_panic_sampling(PanicSampling::off());
    mruntime::clear_error_reporter();
    assert_eq!(caught.unwrap(), 5);
    assert_eq!(recovered_total("sampling-elsewhere", "batch"), 5);
    assert_eq!(suppressed_total("sampling-elsewhere", "batch"), 3);
    assert_eq!(reports.of("sampling-elsewhere", "batch").len(), 2);
    let events = sinks.events("panic.recovered", "batch");
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.field("panic.caught_elsewhere") == "true")
    );
    assert_eq!(sinks.summarised("batch"), 3);
}

#[test]
fn off_restores_a_full_report_for_every_panic() {
    let _serial = serial();
    let sinks = Sinks::new();
    let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
    mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_secs(60)));
    for _ in 0..3 {
        panic_in("sampling-off", "job", "x".into());
    }
    mruntime::set_panic_sampling(PanicSampling::off());
    assert_eq!(sinks.events("panic.recovered", "job").len(), 1);
    assert_eq!(sinks.summarised("job"), 2);
    for _ in 0..3 {
        let p = panic_in("sampling-off", "job", "x".into());
        assert_eq!(p.suppressed_before(), 0);
    }
    assert_eq!(sinks.events("panic.recovered", "job").len(), 4);
    assert_eq!(suppressed_total("sampling-off", "job"), 2);
    assert_eq!(recovered_total("sampling-off", "job"), 6);
}

/// A `CrashProcess` panic is never sampled, even with every other panic suppressed; the crash
/// emits the summaries of the open windows before it flushes.
#[test]
fn a_crash_is_never_sampled_and_summarises_before_the_flush() {
    if child_scenario().as_deref() == Some("crash") {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        struct Say;
        impl ErrorReporter for Say {
            fn report(&self, p: &Panicked) {
                eprintln!("reporter: {}/{} {}", p.component(), p.name(), p.message());
            }
        }
        mruntime::set_error_reporter(Say);
        mruntime::on_crash(|| eprintln!("on_crash flush runs"));
        mruntime::set_panic_sampling(PanicSampling::per_site(0, Duration::from_secs(600)));
        for _ in 0..3 {
            panic_in("ledger", "sync", "poison".into());
        }
        for _ in 0..2 {
            let _ = mruntime::guard("ledger", "commit", CrashProcess, || panic!("torn write"));
        }
        unreachable!("the crash ends the process");
    }
    if child_scenario().is_some() {
        return;
    }
    let outcome = run_child(
        "a_crash_is_never_sampled_and_summarises_before_the_flush",
        "crash",
    );
    let err = &outcome.stderr;
    assert!(outcome.aborted(), "{outcome:#?}");
    assert!(err.contains("reporter: ledger/commit torn write"), "{err}");
    assert!(!err.contains("reporter: ledger/sync"), "suppressed: {err}");
    let recovered = err
        .lines()
        .find(|l| l.contains("panic.recovered"))
        .unwrap_or_default();
    assert!(
        recovered.contains("goroutine_name=\"commit\"")
            || recovered.contains("goroutine_name=commit"),
        "{err}"
    );
    let summary = err
        .lines()
        .find(|l| l.contains("panic.suppressed"))
        .unwrap_or_default();
    assert!(summary.contains("count=3"), "{err}");
    let summary_at = err.find("panic.suppressed").unwrap();
    assert!(
        summary_at < err.find("on_crash flush runs").unwrap(),
        "before the flush: {err}"
    );
}

/// Beyond the tracked sites, panics share one bucket, and every count stays exact. In a child:
/// a site once tracked stays tracked for the process's life.
#[test]
fn sites_beyond_the_limit_share_one_bucket() {
    const SITES: u64 = 1030;
    if child_scenario().as_deref() == Some("overflow") {
        metrics();
        let sinks = Sinks::new();
        let _subscriber = tracing::dispatcher::set_default(&sinks.dispatch);
        mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_secs(600)));
        let names: Vec<&'static str> = (0..SITES)
            .map(|i| &*Box::leak(format!("site-{i}").into_boxed_str()))
            .collect();
        for &name in &names {
            for _ in 0..2 {
                panic_in("sampling-overflow", name, "full".into());
            }
        }
        mruntime::set_panic_sampling(PanicSampling::off());
        let events = sinks.events.0.lock().unwrap().clone();
        let reported = events
            .iter()
            .filter(|e| e.message == "panic.recovered")
            .count() as u64;
        // Every point of this child is of this test's component.
        let sum = |metric: &str| -> u64 { metrics().u64_sum(metric).iter().map(|(_, n)| n).sum() };
        let (suppressed, total) = (
            sum("panic_log_suppressed_total"),
            sum("panic_recovered_total"),
        );
        let points = metrics().u64_sum("panic_recovered_total");
        assert_eq!(points.len() as u64, SITES, "one point per site");
        assert!(
            points.iter().all(|(_, n)| *n == 2),
            "every site's count exact"
        );
        assert_eq!(total, 2 * SITES);
        assert_eq!(reported + suppressed, total);
        // 1,024 sites tracked: one reported, one suppressed each; the last 6 share a bucket:
        // one reported, 11 suppressed.
        assert_eq!(reported, 1024 + 1);
        let overflow: Vec<&Recorded> = events
            .iter()
            .filter(|e| {
                e.message == "panic.suppressed" && e.fields.contains_key("panic.sites_overflowed")
            })
            .collect();
        assert_eq!(overflow.len(), 1, "{overflow:#?}");
        assert_eq!(overflow[0].field("count"), "11");
        let summarised: u64 = events
            .iter()
            .filter(|e| e.message == "panic.suppressed")
            .map(|e| e.field("count").parse::<u64>().unwrap())
            .sum();
        assert_eq!(summarised, suppressed);
        println!("overflow child ok");
        return;
    }
    if child_scenario().is_some() {
        return;
    }
    let outcome = run_child("sites_beyond_the_limit_share_one_bucket", "overflow");
    assert!(outcome.status.success(), "{outcome:#?}");
    assert!(outcome.stdout.contains("overflow child ok"), "{outcome:#?}");
}
