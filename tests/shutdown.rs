//! A task group shuts its tasks down within a deadline: it cancels them (supervised tasks stop
//! restarting, one in its backoff at once), aborts those that ignore cancellation, and reports
//! them, and the tasks that ended by panic, by component/name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use mruntime::{RestartPolicy, Task, TaskContext, TaskError, TaskGroup};
use mruntime_tests::settle;
use mruntime_tests::{Capture, site_names};
use tokio::time::Instant;

async fn cooperative(ctx: TaskContext) -> &'static str {
    loop {
        tokio::select! {
            _ = ctx.cancelled() => return "stopped",
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

#[test]
fn shutdown_during_a_backoff_stops_the_task_at_once_without_restarting_it() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let (report, elapsed, result) = rt.block_on(async move {
        let group = TaskGroup::new();
        let handle = group
            .task("delivery", "processor")
            .restart(RestartPolicy::from_millis(10, 60_000, 10_000, 10_000))
            .spawn(move |_ctx| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { panic!("queue unreachable") }
            });
        settle().await; // attempt 1 has panicked; the task sleeps its 10s backoff
        assert_eq!(site_names(&group.active()), ["delivery/processor"]);

        let before = Instant::now();
        let report = group.shutdown(Duration::from_secs(30)).await;
        (report, before.elapsed(), handle.await)
    });
    assert_eq!(elapsed, Duration::ZERO, "the backoff sleep ended at once");
    assert!(report.not_stopped().is_empty(), "{report}");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "no restart after shutdown");
    let last = result.unwrap_err().into_panicked().unwrap();
    assert_eq!((last.attempt(), last.message()), (1, "queue unreachable"));
    assert_eq!(report.panicked().len(), 1);
    assert_eq!(report.panicked()[0].name(), "processor");
    assert!(capture.events_named("task.restarting").is_empty());
    assert!(capture.events_named("task.gave_up").is_empty());
    assert_eq!(capture.spans_named("mruntime.attempt").len(), 1);
}

#[test]
fn a_panic_after_cancellation_is_not_restarted() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let (report, result) = rt.block_on(async {
        let group = TaskGroup::new();
        let handle = group
            .task("ledger", "flusher")
            .restart(RestartPolicy::from_millis(10, 60_000, 10, 10))
            .spawn(|ctx| async move {
                ctx.cancelled().await;
                panic!("flush failed on the way out (attempt {})", ctx.attempt());
            });
        // No restarts allowed: a panic would be a give-up, but not during a shutdown.
        let strict = group
            .task("ledger", "committer")
            .restart(RestartPolicy::from_millis(0, 60_000, 10, 10))
            .spawn(|ctx| async move {
                ctx.cancelled().await;
                panic!("commit interrupted");
            });
        settle().await;
        let report = group.shutdown(Duration::from_secs(30)).await;
        assert!(strict.await.unwrap_err().is_panic());
        (report, handle.await)
    });
    let last = result.unwrap_err().into_panicked().unwrap();
    assert_eq!(last.attempt(), 1);
    assert!(report.not_stopped().is_empty());
    let mut messages: Vec<_> = report.panicked().iter().map(|p| p.last_message()).collect();
    messages.sort();
    assert_eq!(
        messages,
        [
            "commit interrupted",
            "flush failed on the way out (attempt 1)"
        ]
    );
    assert_eq!(capture.panic_events().len(), 2);
    assert!(capture.events_named("task.restarting").is_empty());
    assert!(
        capture.events_named("task.gave_up").is_empty(),
        "a shutdown is not a give-up: the policy does not apply"
    );
}

#[test]
fn a_worker_that_ignores_cancellation_is_named_and_aborted_at_the_deadline() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    rt.block_on(async move {
        let group = TaskGroup::new();
        let good = group.task("delivery", "processor").spawn(cooperative);
        let bad = group
            .task("legacy", "poller")
            .spawn(move |_ctx| async move {
                struct SetOnDrop(Arc<AtomicBool>);
                impl Drop for SetOnDrop {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _dropped = SetOnDrop(flag);
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        settle().await;

        let before = Instant::now();
        let report = group.shutdown(Duration::from_secs(5)).await;
        assert_eq!(
            before.elapsed(),
            Duration::from_secs(5),
            "waited the whole deadline"
        );
        assert_eq!(site_names(report.not_stopped()), ["legacy/poller"]);
        assert!(report.panicked().is_empty());
        assert!(!report.is_clean());
        assert_eq!(
            report.to_string(),
            "1 task(s) did not stop within 5s and were aborted: legacy/poller"
        );

        assert_eq!(good.await.unwrap(), "stopped");
        let bad = tokio::time::timeout(Duration::from_secs(3600), bad).await;
        assert!(matches!(bad.expect("aborted"), Err(TaskError::Cancelled)));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the aborted task was dropped"
        );
        assert!(group.active().is_empty());
    });
}

#[test]
fn tasks_that_ended_by_panic_are_named_in_the_report() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let report = rt.block_on(async {
        let group = TaskGroup::new();
        let _detached = group
            .task("notification", "email-sender")
            .spawn(|_| async { panic!("smtp down") });
        let _detached = group
            .task("transaction", "balance-sync")
            .restart(RestartPolicy::from_millis(2, 60_000, 10, 10))
            .spawn(|ctx| async move { panic!("attempt {} failed", ctx.attempt()) });
        let _detached = group
            .task("reports", "render-pdf")
            .spawn_blocking(|_| -> u8 { panic!("font missing") });
        let fine = group.task("cache", "warmer").spawn(|_| async { 1 });
        let _detached = group.task("delivery", "processor").spawn(cooperative);
        assert_eq!(fine.await.unwrap(), 1);
        settle().await;
        tokio::time::sleep(Duration::from_secs(1)).await; // the supervised task gives up
        group.shutdown(Duration::from_secs(30)).await
    });
    assert!(report.not_stopped().is_empty(), "{report}");
    let mut panicked: Vec<(String, u32, String)> = report
        .panicked()
        .iter()
        .map(|p| {
            assert_eq!(p.tasks(), 1);
            (
                format!("{}/{}", p.component(), p.name()),
                p.last_attempt(),
                p.last_message().to_owned(),
            )
        })
        .collect();
    panicked.sort();
    assert_eq!(
        panicked,
        [
            (
                "notification/email-sender".to_owned(),
                1,
                "smtp down".to_owned()
            ),
            (
                "reports/render-pdf".to_owned(),
                1,
                "font missing".to_owned()
            ),
            (
                "transaction/balance-sync".to_owned(),
                3,
                "attempt 3 failed".to_owned()
            ),
        ]
    );
    let text = report.to_string();
    assert!(text.starts_with("3 task(s) ended by panic: "), "{text}");
    assert!(
        text.contains("transaction/balance-sync x1 (attempt 3: attempt 3 failed)"),
        "{text}"
    );
}

#[test]
fn panics_of_many_tasks_of_one_site_are_counted_in_one_entry() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let report = rt.block_on(async {
        let group = TaskGroup::new();
        for i in 0..10 {
            let _detached = group
                .task("jobs", "import")
                .spawn(move |_| async move { panic!("row {i} malformed") });
        }
        settle().await;
        group.shutdown(Duration::from_secs(1)).await
    });
    assert_eq!(report.panicked().len(), 1);
    assert_eq!(report.panicked()[0].tasks(), 10);
    assert_eq!(report.panicked()[0].last_message(), "row 9 malformed");
}

#[test]
fn active_lists_the_running_tasks_in_spawn_order() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let group = TaskGroup::new();
        let _detached = group.task("delivery", "processor").spawn(cooperative);
        let quick = group.task("cache", "warmer").spawn(|_| async {});
        let _detached = group
            .task("delivery", "retrier")
            .restart(RestartPolicy::from_millis(5, 60_000, 60_000, 60_000))
            .spawn(|_| async { panic!("in backoff") });
        assert_eq!(group.len(), 3);
        quick.await.unwrap();
        settle().await;
        // The supervised task sleeps in its backoff: it is still a running task.
        assert_eq!(
            site_names(&group.active()),
            ["delivery/processor", "delivery/retrier"]
        );
        let report = group.shutdown(Duration::from_secs(1)).await;
        assert!(report.not_stopped().is_empty());
        assert!(group.active().is_empty());
        assert!(group.is_empty());
    });
}

#[test]
fn a_thousand_workers_shut_down_within_the_deadline() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.multi_thread_runtime(2);
    rt.block_on(async {
        let group = TaskGroup::new();
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let task = group.task("fleet", if i % 2 == 0 { "plain" } else { "supervised" });
                if i % 2 == 0 {
                    task.spawn(cooperative)
                } else {
                    task.restart(RestartPolicy::from_millis(5, 60_000, 100, 10_000))
                        .spawn(cooperative)
                }
            })
            .collect();
        assert_eq!(group.len(), 1000);

        let deadline = Duration::from_secs(30);
        let report = group.shutdown(deadline).await;
        assert!(report.is_clean(), "{report}");
        assert!(report.elapsed() < deadline);
        assert!(group.active().is_empty());
        for handle in handles {
            assert_eq!(handle.await.unwrap(), "stopped");
        }
    });
}

#[test]
fn tasks_spawned_after_shutdown_start_cancelled() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let group = TaskGroup::new();
        let report = group.shutdown(Duration::from_secs(1)).await;
        assert!(report.is_clean());
        assert!(group.is_shut_down());
        let late = group
            .task("c", "late")
            .spawn(|ctx| async move { ctx.is_cancelled() });
        assert!(late.await.unwrap());
        // Also when its parent context is not the group's.
        let outside_parent = TaskContext::new();
        let late = group
            .task("c", "late-with-parent")
            .context(&outside_parent)
            .spawn(|ctx| async move { ctx.is_cancelled() });
        assert!(late.await.unwrap());
        assert!(!outside_parent.is_cancelled());
        let plain = Task::new("c", "outside").spawn(|ctx| async move { ctx.is_cancelled() });
        assert!(
            !plain.await.unwrap(),
            "tasks outside the group are not affected"
        );
    });
}

#[test]
fn dropping_the_last_group_handle_cancels_its_tasks() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let group = TaskGroup::new();
        let clone = group.clone();
        let worker = group.task("delivery", "processor").spawn(cooperative);
        drop(group);
        settle().await;
        assert!(!worker.is_finished(), "a clone still holds the group");
        drop(clone);
        let stopped = tokio::time::timeout(Duration::from_secs(3600), worker).await;
        assert_eq!(stopped.expect("cancelled by the drop").unwrap(), "stopped");
    });
}

#[test]
fn group_tasks_are_parented_at_the_spawn_and_their_panics_reported_once() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let group = TaskGroup::new();
        let request = tracing::info_span!("request");
        let handle = request.in_scope(|| {
            group
                .task("onboarding", "send-welcome")
                .spawn(|_| async { panic!("smtp down") })
        });
        assert!(handle.await.unwrap_err().is_panic());
        let _ = group.shutdown(Duration::from_secs(1)).await;
    });
    let events = capture.panic_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].field("attempt"), Some("1"));
    let scope: Vec<_> = events[0].scope.iter().map(|s| s.name).collect();
    assert_eq!(scope, ["mruntime.task", "request"]);
}
