//! `TaskGroup::shutdown` on a runtime built without the time driver keeps its deadline (on a
//! thread of mruntime's) instead of panicking with tokio's "timers are disabled".

use std::time::{Duration, Instant};

use mruntime::TaskGroup;
use mruntime_tests::site_names;

fn without_time_driver(multi_thread: bool) -> tokio::runtime::Runtime {
    let mut builder = if multi_thread {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.build().unwrap()
}

/// A group of one task that stops when cancelled and one that never does.
fn group_with_a_stuck_task() -> TaskGroup {
    let group = TaskGroup::new();
    let _worker = group
        .task("delivery", "processor")
        .spawn(|ctx| async move { ctx.cancelled().await });
    let _poller = group
        .task("legacy", "poller")
        .spawn(|_| std::future::pending::<()>());
    group
}

fn assert_deadline_kept(multi_thread: bool) {
    let runtime = without_time_driver(multi_thread);
    let started = Instant::now();
    let report = runtime.block_on(async {
        let group = group_with_a_stuck_task();
        tokio::task::yield_now().await;
        group.shutdown(Duration::from_millis(200)).await
    });
    let took = started.elapsed();
    assert_eq!(
        site_names(report.not_stopped()),
        ["legacy/poller"],
        "{report}"
    );
    assert!(report.elapsed() >= Duration::from_millis(200), "{report:?}");
    assert!(
        took < Duration::from_secs(10),
        "the deadline bounds it: {took:?}"
    );
}

#[test]
fn the_deadline_holds_on_a_current_thread_runtime_without_timers() {
    assert_deadline_kept(false);
}

#[test]
fn the_deadline_holds_on_a_multi_thread_runtime_without_timers() {
    assert_deadline_kept(true);
}

#[test]
fn a_clean_shutdown_without_timers_returns_once_the_tasks_stopped() {
    let runtime = without_time_driver(false);
    let report = runtime.block_on(async {
        let group = TaskGroup::new();
        let _worker = group
            .task("delivery", "processor")
            .spawn(|ctx| async move { ctx.cancelled().await });
        group.shutdown(Duration::from_secs(30)).await
    });
    assert!(report.is_clean(), "{report}");
    assert!(report.elapsed() < Duration::from_secs(5), "{report:?}");
}
