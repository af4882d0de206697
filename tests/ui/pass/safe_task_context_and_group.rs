//! `#[safe_task]` with a `TaskContext` argument and/or `group = ..`, without `restart`: the body
//! runs once with the task's own context. The group expression may be a `LazyLock` static, a
//! reference, an `Arc<TaskGroup>`, `self.field`, or use the function's arguments.
#![deny(warnings)]

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use mruntime::{TaskContext, TaskGroup, safe_task};

static WORKERS: LazyLock<TaskGroup> = LazyLock::new(TaskGroup::new);

#[safe_task(component = "cache", name = "refresher")]
async fn refresher(ctx: TaskContext) -> &'static str {
    ctx.cancelled().await;
    ctx.name()
}

#[safe_task(component = "cache", group = WORKERS)]
async fn in_static_group(ctx: TaskContext, rounds: u32) -> u32 {
    let mut done = 0;
    while done < rounds && !ctx.is_cancelled() {
        tokio::time::sleep(Duration::from_millis(10)).await;
        done += 1;
    }
    done
}

#[safe_task(component = "cache", group = &*WORKERS)]
async fn without_context(n: u32) -> u32 {
    n + 1
}

/// The group from an argument, which the task also receives.
#[safe_task(component = "cache", group = workers)]
async fn from_argument(workers: Arc<TaskGroup>, _ctx: TaskContext) -> usize {
    workers.len()
}

/// The group from an argument's field, the argument used by reference.
#[safe_task(component = "cache", group = config.workers)]
fn blocking(config: Arc<Config>, ctx: TaskContext) -> bool {
    ctx.is_cancelled()
}

struct Config {
    workers: TaskGroup,
}

struct Service {
    workers: TaskGroup,
}

impl Service {
    #[safe_task(component = "service", group = self.workers)]
    async fn run(self: Arc<Self>, ctx: TaskContext) -> usize {
        ctx.cancelled().await;
        self.workers.len()
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let parent = TaskContext::new();
    let handle = refresher(parent.clone());
    parent.token().cancel();
    assert_eq!(handle.await.unwrap(), "refresher");

    let handle = in_static_group(TaskContext::new(), 3);
    assert_eq!(WORKERS.len(), 1);
    assert_eq!(handle.await.unwrap(), 3);
    assert_eq!(without_context(1).await.unwrap(), 2);

    let workers = Arc::new(TaskGroup::new());
    assert_eq!(
        from_argument(workers.clone(), TaskContext::new())
            .await
            .unwrap(),
        1
    );

    let config = Arc::new(Config {
        workers: TaskGroup::new(),
    });
    assert!(
        !blocking(config.clone(), config.workers.context())
            .await
            .unwrap()
    );

    let service = Arc::new(Service {
        workers: TaskGroup::new(),
    });
    let handle = service.clone().run(TaskContext::new());
    let report = service.workers.shutdown(Duration::from_secs(1)).await;
    assert!(report.is_clean(), "{report}");
    assert_eq!(handle.await.unwrap(), 1);
}
