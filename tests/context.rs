//! A task receives a context derived from its parent's: cancelling the parent (or the group)
//! cancels the task, cancelling the task does not cancel the parent; each attempt of a
//! supervised task sees its own attempt number.

use std::time::Duration;

use mruntime::{CancellationToken, RestartPolicy, Task, TaskContext, TaskGroup};
use mruntime_tests::Capture;

#[test]
fn the_task_gets_a_child_of_its_parents_token_with_its_own_site() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let parent = TaskContext::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = Task::new("delivery", "processor")
            .context(&parent)
            .spawn(|ctx| async move {
                tx.send(ctx.clone()).unwrap();
                ctx.cancelled().await;
                ctx.attempt()
            });
        let seen = rx.await.unwrap();
        assert_eq!(
            (seen.component(), seen.name(), seen.attempt()),
            ("delivery", "processor", 1)
        );
        // Cancelling the task's own token leaves the parent alone...
        let sibling = Task::new("delivery", "sibling")
            .context(&parent)
            .spawn(|ctx| async move {
                ctx.token().cancel();
            });
        sibling.await.unwrap();
        assert!(!parent.is_cancelled());
        assert!(!seen.is_cancelled());
        // ...and cancelling the parent cancels the task.
        parent.token().cancel();
        assert_eq!(handle.await.unwrap(), 1);
        assert!(seen.is_cancelled());
    });
}

#[test]
fn an_external_token_and_a_group_context_cancel_the_tasks_under_them() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let shutdown = CancellationToken::new();
        let root = TaskContext::from_token(shutdown.clone());
        let a = Task::new("c", "under-token")
            .context(&root)
            .spawn(|ctx| async move { ctx.cancelled().await });
        let group = TaskGroup::new();
        let group_ctx = group.context();
        let b = Task::new("c", "under-group-context")
            .context(&group_ctx)
            .spawn(|ctx| async move { ctx.cancelled().await });
        shutdown.cancel();
        a.await.unwrap();
        assert!(!b.is_finished());
        let report = group.shutdown(Duration::from_secs(1)).await;
        assert!(report.is_clean());
        b.await.unwrap();
    });
}

#[test]
fn a_task_in_a_group_with_an_outside_parent_is_cancelled_by_either() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let parent = TaskContext::new();
        let group = TaskGroup::new();
        let task = group
            .task("c", "both")
            .context(&parent)
            .spawn(|ctx| async move { ctx.cancelled().await });
        let report = group.shutdown(Duration::from_secs(1)).await;
        assert!(report.is_clean(), "{report}");
        task.await.unwrap();
        assert!(
            !parent.is_cancelled(),
            "the group cancels its task, not its parent"
        );
    });
}

#[test]
fn each_attempt_sees_its_number_and_the_same_cancellation() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let parent = TaskContext::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = Task::new("c", "supervised")
            .context(&parent)
            .restart(RestartPolicy::from_millis(5, 60_000, 10, 10))
            .spawn(move |ctx| {
                let tx = tx.clone();
                async move {
                    tx.send(ctx.attempt()).unwrap();
                    if ctx.attempt() < 3 {
                        panic!("not yet");
                    }
                    ctx.cancelled().await;
                    ctx.attempt()
                }
            });
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        parent.token().cancel();
        assert_eq!(handle.await.unwrap(), 3);
    });
}

#[test]
fn a_root_context_has_no_site() {
    let root = TaskContext::default();
    assert_eq!((root.component(), root.name(), root.attempt()), ("", "", 0));
    assert!(!root.is_cancelled());
    assert!(format!("{root:?}").contains("cancelled: false"));
}
