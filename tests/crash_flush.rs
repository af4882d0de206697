//! Before a `CrashProcess` abort, mruntime records the metric, ends and exports the span, reports,
//! and runs every `on_crash` flush and the reporter's flush, within a bounded time. The child's
//! exporters write to files, read here after the child died.

use std::path::{Path, PathBuf};
use std::time::Duration;

use mruntime::PanicPolicy::CrashProcess;
use mruntime::{ErrorReporter, Panicked};
use mruntime_tests::otel::{FileMetricExporter, FileSpanExporter};
use mruntime_tests::{child_scenario, mark_crash_start, run_child};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;

fn out_dir(scenario: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("mruntime-crash-{scenario}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct FileReporter(PathBuf);

impl ErrorReporter for FileReporter {
    fn report(&self, p: &Panicked) {
        std::fs::write(self.0.join("reported"), p.to_string()).unwrap();
    }
    fn flush(&self, _: Duration) -> bool {
        std::fs::write(self.0.join("reporter-flushed"), "yes").unwrap();
        true
    }
}

/// The child: batch span export and a periodic metric reader that would export only in an hour,
/// so what reaches the files before the abort got there through the crash flush.
fn play(dir: &Path, hang: bool) {
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(FileSpanExporter::create(&dir.join("spans")))
        .build();
    let reader = PeriodicReader::builder(FileMetricExporter::create(&dir.join("metrics")))
        .with_interval(Duration::from_secs(3600))
        .build();
    let meter_provider = SdkMeterProvider::builder().with_reader(reader).build();
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("crash-test")));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    mruntime::set_error_reporter(FileReporter(dir.to_owned()));
    if hang {
        mruntime::set_crash_flush_timeout(Duration::from_millis(300));
        mruntime::on_crash(|| std::thread::sleep(Duration::from_secs(3600)));
    } else {
        let (t, m) = (tracer_provider.clone(), meter_provider.clone());
        mruntime::on_crash(move || {
            let _ = t.force_flush();
        });
        mruntime::on_crash(move || {
            let _ = m.force_flush();
        });
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let _ = rt.block_on(async {
        mruntime::spawn("transaction", "balance-commit", CrashProcess, async {
            mark_crash_start();
            panic!("partial commit")
        })
        .await
    });
    println!("SURVIVED");
}

#[test]
fn crash_flushes_metric_span_and_reporter_before_abort() {
    if let Some(dir) = child_scenario() {
        return play(Path::new(&dir), false);
    }
    let dir = out_dir("flush");
    let outcome = run_child(
        "crash_flushes_metric_span_and_reporter_before_abort",
        dir.to_str().unwrap(),
    );
    assert!(outcome.aborted(), "{outcome:#?}");

    let metrics = std::fs::read_to_string(dir.join("metrics")).unwrap_or_default();
    assert!(
        metrics.contains(
            r#"metric panic_recovered_total {"component": "transaction", "goroutine_name": "balance-commit", "policy": "CrashProcess"} 1"#
        ),
        "metrics file: {metrics}\n{outcome:#?}"
    );
    let spans = std::fs::read_to_string(dir.join("spans")).unwrap_or_default();
    assert!(
        spans.contains("span balance-commit status=Error { description: \"panic recovered in transaction/balance-commit\" } events=panic.recovered,exception"),
        "spans file: {spans}\n{outcome:#?}"
    );
    assert!(
        spans.contains("event panic.recovered panic.value=partial commit"),
        "{spans}"
    );
    let reported = std::fs::read_to_string(dir.join("reported")).unwrap_or_default();
    assert!(reported.ends_with(": partial commit"), "{reported}");
    assert!(dir.join("reporter-flushed").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_hanging_flush_is_cut_off_by_the_timeout() {
    if let Some(dir) = child_scenario() {
        return play(Path::new(&dir), true);
    }
    let dir = out_dir("hang");
    let outcome = run_child(
        "a_hanging_flush_is_cut_off_by_the_timeout",
        dir.to_str().unwrap(),
    );
    assert!(outcome.aborted(), "{outcome:#?}");
    let died_in = outcome.time_to_death().expect("the child marked its crash");
    assert!(
        died_in >= Duration::from_millis(300) && died_in < Duration::from_secs(2),
        "the 300 ms flush timeout bounds the crash: died {died_in:?} after the panic"
    );
    // The reporter had already been called; its flush runs after the hung hook, so never.
    assert!(dir.join("reported").exists());
    assert!(!dir.join("reporter-flushed").exists());
    std::fs::remove_dir_all(&dir).ok();
}
