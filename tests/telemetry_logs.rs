//! The `panic.recovered` event reaches OpenTelemetry logs through the tracing bridge
//! (`opentelemetry-appender-tracing`), for backends moving off span events.

use mruntime::PanicPolicy::KeepRunning;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn panic_event_becomes_a_log_record() {
    let exporter = InMemoryLogExporter::default();
    let provider = SdkLoggerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber =
        tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider));
    tracing::subscriber::with_default(subscriber, || {
        let _ = mruntime::guard("onboarding", "handler.create_account", KeepRunning, || {
            panic!("input must not be nil")
        });
    });

    let logs = exporter.get_emitted_logs().unwrap();
    let record = logs
        .iter()
        .map(|l| &l.record)
        .find(|r| {
            r.body()
                == Some(&opentelemetry::logs::AnyValue::from(
                    "panic.recovered".to_owned(),
                ))
        })
        .unwrap_or_else(|| panic!("no panic.recovered record in {logs:#?}"));
    assert_eq!(record.severity_text(), Some("ERROR"));
    let attrs: std::collections::BTreeMap<String, String> = record
        .attributes_iter()
        .map(|(k, v)| (k.to_string(), format!("{v:?}")))
        .collect();
    assert!(attrs["component"].contains("onboarding"), "{attrs:#?}");
    assert!(
        attrs["goroutine_name"].contains("handler.create_account"),
        "{attrs:#?}"
    );
    assert!(
        attrs["panic.value"].contains("input must not be nil"),
        "{attrs:#?}"
    );
}
