//! mruntime's spawns carry the spawning context's Sentry hub into the task (feature `sentry`): a
//! panic in a task started inside a request is reported with the request's tags, through every
//! spawn path, on every attempt of a supervised task, and on the blocking pool; the task's own
//! scope changes stay in the task. Checked with sentry-core's test transport.

use std::sync::Mutex;

use mruntime::PanicPolicy::KeepRunning;
use mruntime::sentry::SentryReporter;
use mruntime::{RestartPolicy, Task, TaskError, safe_go, safe_task};
use sentry_core::protocol::Event;

/// The process-wide reporter is set by one test at a time.
static TURN: Mutex<()> = Mutex::new(());

/// Runs `request` on a multi-thread runtime inside a hub with sentry's test transport and a
/// `SentryReporter`, with the tag `request_id = 7` set in the request's scope; returns the
/// events sent.
fn in_request(request: impl std::future::Future<Output = ()>) -> Vec<Event<'static>> {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let events = sentry_core::test::with_captured_events(|| {
        mruntime::set_error_reporter(SentryReporter::new());
        rt.block_on(async {
            sentry_core::configure_scope(|scope| scope.set_tag("request_id", 7));
            sentry_core::add_breadcrumb(sentry_core::protocol::Breadcrumb {
                message: Some("request accepted".into()),
                ..Default::default()
            });
            request.await;
        });
        mruntime::clear_error_reporter();
    });
    drop(rt);
    events
}

/// The panic reports among `events` (each has the tag `component`), by `goroutine_name`.
fn reports<'a>(events: &'a [Event<'static>], name: &str) -> Vec<&'a Event<'static>> {
    events
        .iter()
        .filter(|e| e.tags.get("goroutine_name").map(String::as_str) == Some(name))
        .collect()
}

fn has_request_scope(event: &Event<'_>) -> bool {
    event.tags.get("request_id").map(String::as_str) == Some("7")
        && event
            .breadcrumbs
            .iter()
            .any(|b| b.message.as_deref() == Some("request accepted"))
}

#[safe_task(component = "hub", name = "safe-task")]
async fn failing_task() {
    panic!("safe_task failed")
}

#[test]
fn every_spawn_path_reports_a_child_panic_with_the_spawner_s_scope() {
    let events = in_request(async {
        let h = safe_go!(component = "hub", name = "safe-go", async {
            panic!("safe_go failed")
        });
        assert!(matches!(h.await, Err(TaskError::Panicked(_))));
        let h = mruntime::spawn("hub", "spawn", KeepRunning, async {
            panic!("spawn failed")
        });
        assert!(h.await.is_err());
        let h = Task::new("hub", "task").spawn(|_ctx| async { panic!("Task::spawn failed") });
        assert!(h.await.is_err());
        assert!(failing_task().await.is_err());
        let h = mruntime::spawn_blocking("hub", "blocking", KeepRunning, || {
            panic!("spawn_blocking failed")
        });
        assert!(h.await.is_err());
        let h = Task::new("hub", "task-blocking")
            .spawn_blocking(|_ctx| -> () { panic!("Task::spawn_blocking failed") });
        assert!(h.await.is_err());
    });

    for name in [
        "safe-go",
        "spawn",
        "task",
        "safe-task",
        "blocking",
        "task-blocking",
    ] {
        let reported = reports(&events, name);
        assert_eq!(reported.len(), 1, "{name}: {events:#?}");
        assert!(has_request_scope(reported[0]), "{name}: {:#?}", reported[0]);
    }
}

#[test]
fn every_attempt_of_a_supervised_task_keeps_the_hub() {
    let restart = RestartPolicy::from_millis(5, 60_000, 1, 2);
    let events = in_request(async move {
        let h = Task::new("hub", "supervised")
            .restart(restart)
            .spawn(|ctx| async move {
                if ctx.attempt() <= 3 {
                    panic!("attempt {} failed", ctx.attempt());
                }
            });
        assert!(h.await.is_ok());
        let h = Task::new("hub", "supervised-blocking")
            .restart(restart)
            .spawn_blocking(|ctx| {
                if ctx.attempt() <= 2 {
                    panic!("attempt {} failed", ctx.attempt());
                }
            });
        assert!(h.await.is_ok());
    });

    let supervised = reports(&events, "supervised");
    assert_eq!(supervised.len(), 3, "{events:#?}");
    assert!(supervised.iter().all(|e| has_request_scope(e)));
    let blocking = reports(&events, "supervised-blocking");
    assert_eq!(blocking.len(), 2, "{events:#?}");
    assert!(blocking.iter().all(|e| has_request_scope(e)));
}

#[test]
fn a_task_s_scope_changes_stay_in_the_task() {
    let events = in_request(async {
        let h = mruntime::spawn("hub", "tagging-child", KeepRunning, async {
            sentry_core::configure_scope(|scope| scope.set_tag("child_only", "yes"));
            panic!("child failed")
        });
        assert!(h.await.is_err());
        // A later panic of the parent's context does not see the child's tag.
        let _ = mruntime::guard("hub", "parent", KeepRunning, || panic!("parent failed"));
    });

    let child = reports(&events, "tagging-child");
    assert_eq!(child.len(), 1, "{events:#?}");
    assert_eq!(
        child[0].tags.get("child_only").map(String::as_str),
        Some("yes")
    );
    assert!(has_request_scope(child[0]));
    let parent = reports(&events, "parent");
    assert_eq!(parent.len(), 1, "{events:#?}");
    assert!(
        !parent[0].tags.contains_key("child_only"),
        "{:#?}",
        parent[0]
    );
    assert!(has_request_scope(parent[0]));
}
