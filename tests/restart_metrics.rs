//! `task_restarts_total{component, goroutine_name}` counts the restarts that happened (not one
//! cancelled during its backoff), and the lifecycle instruments count a supervised task once,
//! however many attempts it ran. Read back from a real `opentelemetry_sdk` pipeline. One test:
//! the meter is process-wide.

use std::time::Duration;

use mruntime::{RestartPolicy, Task, TaskGroup};
use mruntime_tests::Capture;
use mruntime_tests::otel::{Attrs, Metrics};

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn restarts_are_counted_per_component_and_name() {
    let metrics = Metrics::new();
    mruntime::init_panic_metrics(opentelemetry::metrics::MeterProvider::meter(
        &metrics.provider,
        "restart-test",
    ));
    mruntime::enable_task_metrics(true);

    let capture = Capture::new();
    let _guard = capture.set_default();
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.start_paused(true);
    let rt = capture.runtime(builder);
    rt.block_on(async {
        // Two restarts, then the third attempt returns.
        let sync = Task::new("transaction", "balance-sync")
            .restart(RestartPolicy::from_millis(5, 60_000, 100, 1_000))
            .spawn(|ctx| async move {
                assert!(ctx.attempt() >= 3, "database unavailable");
            });
        sync.await.unwrap();

        // One restart, then a panic puts it in a 1h backoff that the shutdown interrupts.
        let group = TaskGroup::new();
        let stuck = group
            .task("delivery", "processor")
            .restart(RestartPolicy::from_millis(5, 60_000, 3_600_000, 3_600_000))
            .spawn(|_| async { panic!("queue unreachable") });
        tokio::time::sleep(Duration::from_secs(3600 + 1)).await;
        let report = group.shutdown(Duration::from_secs(1)).await;
        assert!(report.not_stopped().is_empty());
        assert_eq!(
            stuck.await.unwrap_err().into_panicked().unwrap().attempt(),
            2
        );
    });
    mruntime::enable_task_metrics(false);

    assert_eq!(
        metrics.u64_sum("task_restarts_total"),
        [
            (
                attrs(&[("component", "delivery"), ("goroutine_name", "processor")]),
                1
            ),
            (
                attrs(&[
                    ("component", "transaction"),
                    ("goroutine_name", "balance-sync")
                ]),
                2
            ),
        ]
    );
    assert_eq!(
        metrics.describe("task_restarts_total"),
        Some((
            "Total number of restarts of supervised tasks".to_owned(),
            "1".to_owned()
        ))
    );
    // Every attempt's panic is counted: 2 + 2.
    let panics: u64 = metrics
        .u64_sum("panic_recovered_total")
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(panics, 4);
    // Each supervised task is one task for the lifecycle instruments.
    assert_eq!(
        metrics.u64_sum("tasks_started_total"),
        [
            (attrs(&[("component", "delivery")]), 1),
            (attrs(&[("component", "transaction")]), 1),
        ]
    );
    assert_eq!(
        metrics.u64_sum("tasks_finished_total"),
        [
            (
                attrs(&[("component", "delivery"), ("outcome", "panicked")]),
                1
            ),
            (attrs(&[("component", "transaction"), ("outcome", "ok")]), 1),
        ]
    );
}
