//! `safe_go!` and `#[safe_task]` on both runtime flavours: results, reports, span parentage.

use std::sync::Arc;

use mruntime::{TaskError, TaskHandle, safe_go, safe_task};
use mruntime_tests::Capture;

#[safe_task(component = "transaction", name = "balance-sync")]
async fn balance_sync(account: String, rounds: u32) -> u32 {
    tokio::task::yield_now().await;
    assert!(account != "frozen", "account {account} is frozen");
    rounds * 2
}

#[safe_task(component = "reports")]
fn render(pages: Arc<Vec<u8>>) -> usize {
    assert!(!pages.is_empty(), "nothing to render");
    pages.len()
}

async fn scenario() {
    let parent = tracing::info_span!("spawner");
    let (ok, frozen, rendered, empty, go_ok, go_fail) = {
        let _entered = parent.enter();
        let ok: TaskHandle<u32> = balance_sync("main".into(), 3);
        let frozen = balance_sync("frozen".into(), 1);
        let rendered = render(Arc::new(vec![1, 2, 3]));
        let empty = render(Arc::new(vec![]));
        let go_ok = safe_go!(
            component = "notification",
            name = "email-sender",
            async move { "sent" }
        );
        let go_fail = safe_go!("notification", "sms-sender", async move {
            tokio::task::yield_now().await;
            panic!("sms gateway down")
        });
        (ok, frozen, rendered, empty, go_ok, go_fail)
    };
    assert_eq!(ok.await.unwrap(), 6);
    let Err(TaskError::Panicked(p)) = frozen.await else {
        panic!("frozen should panic")
    };
    assert_eq!((p.component(), p.name()), ("transaction", "balance-sync"));
    assert_eq!(p.message(), "account frozen is frozen");
    assert_eq!(rendered.await.unwrap(), 3);
    let Err(TaskError::Panicked(p)) = empty.await else {
        panic!("empty should panic")
    };
    assert_eq!(p.name(), "render", "name defaults to the fn's name");
    assert_eq!(go_ok.await.unwrap(), "sent");
    let Err(TaskError::Panicked(p)) = go_fail.await else {
        panic!("sms should panic")
    };
    assert_eq!(p.name(), "sms-sender");
}

fn check_events(capture: &Capture) {
    let events = capture.panic_events();
    let mut names: Vec<_> = events
        .iter()
        .map(|e| e.field("goroutine_name").unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["balance-sync", "render", "sms-sender"]);
    for e in &events {
        assert_eq!(e.scope[0].name, "mruntime.task");
        assert_eq!(e.scope[1].name, "spawner", "parented at the spawn: {e:#?}");
    }
}

#[test]
fn current_thread_runtime() {
    let capture = Capture::new();
    let _default = capture.set_default();
    capture.current_thread_runtime().block_on(scenario());
    check_events(&capture);
}

#[test]
fn multi_thread_runtime() {
    let capture = Capture::new();
    let _default = capture.set_default();
    capture.multi_thread_runtime(2).block_on(scenario());
    check_events(&capture);
}

#[test]
fn ten_thousand_tasks_one_thousand_panics() {
    let capture = Capture::new();
    let _default = capture.set_default();
    let rt = capture.multi_thread_runtime(2);
    let (ok, panicked) = rt.block_on(async {
        let handles: Vec<_> = (0..10_000u32)
            .map(|i| {
                safe_go!(component = "load", name = "worker", async move {
                    if i % 10 == 0 {
                        panic!("task {i} failed");
                    }
                    i
                })
            })
            .collect();
        let (mut ok, mut panicked) = (0, 0);
        for (i, handle) in handles.into_iter().enumerate() {
            match handle.await {
                Ok(v) => {
                    assert_eq!(v as usize, i);
                    ok += 1;
                }
                Err(TaskError::Panicked(p)) => {
                    assert_eq!(p.message(), format!("task {i} failed"));
                    panicked += 1;
                }
                Err(other) => panic!("unexpected {other}"),
            }
        }
        (ok, panicked)
    });
    assert_eq!((ok, panicked), (9_000, 1_000));
    assert_eq!(capture.panic_events().len(), 1_000);
}
