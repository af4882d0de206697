//! mruntime in one file: a handler, a worker, and a critical section.
//!
//! ```text
//! cargo run --example quickstart             # recover, report, keep running
//! cargo run --example quickstart -- --crash  # a CrashProcess panic ends the process
//! ```

use mruntime::{PanicPolicy, Panicked, TaskError, recover, safe_go, safe_task};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// What handlers return: a panic becomes a 500 without the panic's text.
#[derive(Debug)]
enum ApiError {
    NameTooLong,
    Internal,
}

impl From<Panicked> for ApiError {
    fn from(_: Panicked) -> Self {
        ApiError::Internal
    }
}

/// A handler: a panic in here is logged, counted, traced, reported, and becomes
/// `Err(ApiError::Internal)`.
#[recover(component = "onboarding", name = "handler.create_account")]
async fn create_account(name: String) -> Result<u64, ApiError> {
    if name.len() > 32 {
        return Err(ApiError::NameTooLong);
    }
    let first = name.chars().next().expect("input must not be nil"); // panics on ""
    Ok(u64::from(first))
}

/// A worker: calling it spawns it as a guarded task and returns a `TaskHandle`.
#[safe_task(component = "transaction", name = "balance-sync")]
async fn balance_sync(accounts: Vec<i64>) -> i64 {
    accounts.iter().sum()
}

/// A critical section: continuing after a panic here would corrupt money.
#[recover(component = "transaction", name = "update_balance", policy = CrashProcess)]
fn update_balance(balance: &mut i64, debit: i64) {
    assert!(*balance >= debit, "balance must not be negative");
    *balance -= debit;
}

#[tokio::main]
async fn main() {
    // Wiring, once per service: logs to stderr, traces and metrics to OpenTelemetry. In a real
    // service the exporters are OTLP or Prometheus (see the README); in-memory ones let this
    // demo print what it exported.
    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics.clone()).build())
        .build();
    opentelemetry::global::set_meter_provider(meter_provider.clone());
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("quickstart")))
        .init();
    let (t, m) = (tracer_provider.clone(), meter_provider.clone());
    mruntime::on_crash(move || {
        let _ = t.force_flush();
        let _ = m.force_flush();
    });

    if std::env::args().any(|a| a == "--crash") {
        let mut balance = 10;
        update_balance(&mut balance, 3);
        println!("balance after a good debit: {balance}");
        update_balance(&mut balance, 100); // reported, flushed, then the process aborts
        unreachable!("CrashProcess never returns");
    }

    // 1. A handler that works, then one that panics: the caller gets Err and goes on.
    println!(
        "create_account(\"ana\") = {:?}",
        create_account("ana".into()).await
    );
    println!(
        "create_account(\"\")    = {:?}",
        create_account(String::new()).await
    );

    // 2. A worker, and a bare task: safe_go! instead of tokio::spawn.
    println!(
        "balance_sync          = {:?}",
        balance_sync(vec![10, -4, 7]).await
    );
    let sender = safe_go!(
        component = "notification",
        name = "email-sender",
        async move {
            panic!("smtp connection refused");
        }
    );
    match sender.await {
        Err(TaskError::Panicked(p)) => println!("email-sender          = recovered: {p}"),
        other => println!("email-sender          = {other:?}"),
    }

    // 3. What reached OpenTelemetry.
    meter_provider.force_flush().expect("flush metrics");
    if let Some(resource) = metrics.get_finished_metrics().expect("metrics").last() {
        for metric in resource.scope_metrics().flat_map(|s| s.metrics()) {
            if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                for point in sum.data_points() {
                    let labels: Vec<_> = point
                        .attributes()
                        .map(|kv| format!("{}=\"{}\"", kv.key, kv.value))
                        .collect();
                    println!(
                        "metric {}{{{}}} {}",
                        metric.name(),
                        labels.join(","),
                        point.value()
                    );
                }
            }
        }
    }
    for span in spans.get_finished_spans().expect("spans") {
        for event in span.events.iter().filter(|e| e.name == "panic.recovered") {
            let value = event
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "panic.value")
                .map(|kv| kv.value.to_string())
                .unwrap_or_default();
            println!(
                "span {:<24} status={:?} event=panic.recovered panic.value={value:?}",
                span.name, span.status
            );
        }
    }
    let _ = PanicPolicy::KeepRunning; // the default policy, spelled out for readers
}
