//! `safe_go!` with a `|ctx|` closure, `restart(..)`, `group = ..` and `context = ..`, in every
//! combination; a function as the factory; a future in a group.
#![deny(warnings)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use mruntime::{TaskContext, TaskGroup, safe_go};

async fn worker(ctx: TaskContext) -> u32 {
    assert!(ctx.attempt() > 1, "attempt {} failed", ctx.attempt());
    ctx.attempt()
}

struct Service {
    workers: TaskGroup,
    root: TaskContext,
}

impl Service {
    fn start(self: Arc<Self>) -> mruntime::TaskHandle<usize> {
        safe_go!(
            component = "service",
            name = "loop",
            context = self.root,
            group = self.workers,
            move |ctx| async move {
                ctx.cancelled().await;
                self.workers.len()
            }
        )
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    // A closure receiving the task's context, run once.
    let handle = safe_go!("cache", "warmer", |ctx| async move { ctx.attempt() });
    assert_eq!(handle.await.unwrap(), 1);

    // A function as the factory of each attempt.
    let handle = safe_go!(
        component = "delivery",
        name = "processor",
        restart(max = 5, within = "60s", backoff = "100ms..10s"),
        worker
    );
    assert_eq!(handle.await.unwrap(), 2);

    // Closure + restart + group + parent context, the settings defaulted.
    let workers = TaskGroup::new();
    let parent = TaskContext::new();
    let runs = Arc::new(AtomicU32::new(0));
    let handle = safe_go!(
        component = "notification",
        name = "email-sender",
        policy = KeepRunning,
        restart,
        group = workers,
        context = &parent,
        move |ctx: TaskContext| {
            let runs = runs.clone();
            async move {
                if runs.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("smtp down");
                }
                ctx.cancelled().await;
                ctx.attempt()
            }
        },
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(workers.len(), 1);
    parent.token().cancel();
    assert_eq!(handle.await.unwrap(), 2);

    // A future in a group.
    let handle = safe_go!(
        component = "batch",
        name = "item",
        group = workers.clone(),
        async { 7 }
    );
    assert_eq!(handle.await.unwrap(), 7);

    let service = Arc::new(Service {
        workers: TaskGroup::new(),
        root: TaskContext::new(),
    });
    let handle = service.clone().start();
    service.root.token().cancel();
    assert_eq!(handle.await.unwrap(), 1);
}
