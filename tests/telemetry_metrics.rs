//! `panic_recovered_total` and the task lifecycle instruments, read back from a real
//! `opentelemetry_sdk` pipeline with an in-memory exporter. One test: the global meter provider
//! is process-wide.

use mruntime::PanicPolicy::KeepRunning;
use mruntime_tests::otel::{Attrs, Metrics, panic_labels};

fn panic_in(component: &'static str, name: &'static str) {
    let _ = mruntime::guard(component, name, KeepRunning, || panic!("counted"));
}

#[test]
fn panic_metrics_follow_the_global_provider_and_init_panic_metrics() {
    // A panic before any provider is installed goes to the no-op provider.
    panic_in("early", "before-provider");

    // A provider installed after the first guarded call still receives counts.
    let metrics = Metrics::new();
    opentelemetry::global::set_meter_provider(metrics.provider.clone());
    for _ in 0..3 {
        panic_in("transaction", "balance-sync");
    }
    for _ in 0..2 {
        panic_in("onboarding", "handler.create_account");
    }
    mruntime::guard("transaction", "balance-sync", KeepRunning, || "no panic").unwrap();

    assert_eq!(
        metrics.u64_sum("panic_recovered_total"),
        [
            (
                panic_labels("onboarding", "handler.create_account", "KeepRunning"),
                2
            ),
            (
                panic_labels("transaction", "balance-sync", "KeepRunning"),
                3
            ),
        ]
    );
    assert_eq!(
        metrics.describe("panic_recovered_total"),
        Some((
            "Total number of recovered panics".to_owned(),
            "1".to_owned()
        ))
    );

    // Label values are cut to 64 bytes; the message never becomes a label.
    const LONG: &str = "a-component-name-that-is-much-longer-than-sixty-four-bytes-in-total-really";
    panic_in(LONG, "long");
    let points = metrics.u64_sum("panic_recovered_total");
    let long = points
        .iter()
        .find(|(a, _)| a["goroutine_name"] == "long")
        .expect("long point");
    assert_eq!(long.0["component"], LONG[..64]);
    assert!(
        points
            .iter()
            .all(|(a, _)| a.len() == 3 && !a.values().any(|v| v == "counted"))
    );

    // Task lifecycle instruments: off by default, then on.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        mruntime::spawn("jobs", "off", KeepRunning, async {})
            .await
            .unwrap();
    });
    assert!(metrics.u64_sum("tasks_started_total").is_empty());

    mruntime::enable_task_metrics(true);
    rt.block_on(async {
        mruntime::spawn("jobs", "ok", KeepRunning, async {})
            .await
            .unwrap();
        let failed = mruntime::spawn("jobs", "fails", KeepRunning, async { panic!("x") });
        assert!(failed.await.unwrap_err().is_panic());
        let blocking = mruntime::spawn_blocking("jobs", "blocking", KeepRunning, || 1);
        assert_eq!(blocking.await.unwrap(), 1);
        let sleeper = mruntime::spawn("jobs", "sleeper", KeepRunning, std::future::pending::<()>());
        tokio::task::yield_now().await;
        sleeper.abort();
        assert!(sleeper.await.unwrap_err().is_cancelled());
    });
    mruntime::enable_task_metrics(false);
    let component = |extra: &[(&str, &str)]| -> Attrs {
        std::iter::once(("component", "jobs"))
            .chain(extra.iter().copied())
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    assert_eq!(
        metrics.u64_sum("tasks_started_total"),
        [(component(&[]), 4)]
    );
    assert_eq!(
        metrics.u64_sum("tasks_finished_total"),
        [
            (component(&[("outcome", "cancelled")]), 1),
            (component(&[("outcome", "ok")]), 2),
            (component(&[("outcome", "panicked")]), 1),
        ]
    );
    assert_eq!(metrics.i64_sum("tasks_active"), [(component(&[]), 0)]);

    // An explicit meter takes over from the global provider.
    let explicit = Metrics::new();
    mruntime::init_panic_metrics(opentelemetry::metrics::MeterProvider::meter(
        &explicit.provider,
        "explicit",
    ));
    panic_in("payments", "explicit");
    assert_eq!(
        explicit.u64_sum("panic_recovered_total"),
        [(panic_labels("payments", "explicit", "KeepRunning"), 1)]
    );
    assert!(
        !metrics
            .u64_sum("panic_recovered_total")
            .iter()
            .any(|(a, _)| a["component"] == "payments")
    );
}
