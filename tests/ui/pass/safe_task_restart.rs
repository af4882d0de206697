//! `#[safe_task(restart(..))]` on async and sync functions: every form of the settings
//! (defaults included), a `TaskContext` argument under any name, patterns, generics, methods
//! taking `self` by value or `self: Arc<Self>` (the body's `self` is each attempt's clone, also
//! inside macros), and `policy = CrashProcess` (it applies once the task gives up).
#![deny(warnings)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mruntime::{TaskContext, TaskError, TaskHandle, safe_task};

#[safe_task(
    component = "delivery",
    name = "processor",
    restart(max = 5, within = "60s", backoff = "100ms..10s")
)]
async fn processor(ctx: TaskContext, label: String) -> String {
    assert!(ctx.attempt() >= 2, "attempt {} failed", ctx.attempt());
    format!("{label} {}", ctx.attempt())
}

/// Every setting defaults: `max = 5, within = "60s", backoff = "100ms..10s"`.
#[safe_task(component = "delivery", restart)]
async fn with_defaults(runs: Arc<AtomicU32>) -> u32 {
    let run = runs.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(run > 1, "first run fails");
    run
}

#[safe_task(component = "delivery", restart(), policy = KeepRunning)]
async fn empty_settings(mut _ctx: mruntime::TaskContext) {}

/// No context argument: the attempt is not visible, the arguments are still cloned.
#[safe_task(component = "delivery", restart(backoff = "1ms..1ms", max = 2u32,))]
async fn without_context((a, b): (u32, String), _guard: Arc<()>, _: Vec<u8>) -> usize {
    a as usize + b.len()
}

#[safe_task(component = "delivery", restart(within = "1h"))]
async fn generic<T>(value: T, _ctx: TaskContext) -> String
where
    T: std::fmt::Display + Clone + Send + Sync + 'static,
{
    value.to_string()
}

#[safe_task(
    component = "reports",
    restart(max = 1, within = "5m", backoff = "10ms..20ms")
)]
fn render(ctx: TaskContext, rows: Vec<u32>) -> usize {
    if ctx.attempt() == 1 {
        return 0; // `return` leaves the attempt, which succeeded
    }
    rows.len()
}

#[safe_task(component = "ledger", policy = CrashProcess, restart(max = 3))]
async fn critical(ctx: TaskContext) -> u32 {
    ctx.attempt()
}

#[derive(Clone)]
struct Worker {
    name: String,
}

struct Shared {
    name: String,
    runs: AtomicU32,
}

impl Worker {
    #[safe_task(component = "worker", restart(backoff = "1ms..1ms"))]
    async fn run(self, ctx: TaskContext) -> String {
        let helper = |w: &Worker| w.name.len();
        format!("{} {} {}", self.name, helper(&self), ctx.attempt())
    }
}

impl Shared {
    #[safe_task(component = "worker", restart(backoff = "1ms..1ms"))]
    async fn run(self: Arc<Self>, ctx: TaskContext) -> String {
        // A nested item's `self` is its own, not the attempt's clone.
        struct Inner(u32);
        impl Inner {
            fn get(&self) -> u32 {
                self.0
            }
        }
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(run > 1, "{} failed on run {run}", self.name);
        format!("{} {}", self.name, Inner(ctx.attempt()).get())
    }

    #[safe_task(component = "worker", restart(backoff = "1ms..1ms"))]
    fn run_blocking(self: Arc<Self>) -> usize {
        self.name.len()
    }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let handle: TaskHandle<String> = processor(TaskContext::new(), "processor".into());
    assert_eq!(handle.await.unwrap(), "processor 2");

    assert_eq!(with_defaults(Arc::new(AtomicU32::new(0))).await.unwrap(), 2);
    empty_settings(TaskContext::new()).await.unwrap();
    assert_eq!(
        without_context((1, "ab".into()), Arc::new(()), vec![])
            .await
            .unwrap(),
        3
    );
    assert_eq!(generic(5, TaskContext::new()).await.unwrap(), "5");
    assert_eq!(render(TaskContext::new(), vec![1, 2]).await.unwrap(), 0);
    assert_eq!(critical(TaskContext::new()).await.unwrap(), 1);

    let worker = Worker { name: "w".into() };
    assert_eq!(worker.run(TaskContext::new()).await.unwrap(), "w 1 1");
    let shared = Arc::new(Shared {
        name: "s".into(),
        runs: AtomicU32::new(0),
    });
    assert_eq!(shared.clone().run(TaskContext::new()).await.unwrap(), "s 2");
    assert_eq!(shared.clone().run_blocking().await.unwrap(), 1);
    assert_eq!(Arc::strong_count(&shared), 1);

    // Always failing: gives up after `max` restarts.
    #[safe_task(component = "c", restart(max = 1, backoff = "1ms..1ms"))]
    async fn hopeless(ctx: TaskContext) {
        panic!("attempt {}", ctx.attempt());
    }
    match hopeless(TaskContext::new()).await {
        Err(TaskError::Panicked(last)) => assert_eq!(last.attempt(), 2),
        other => panic!("expected a panic, got {other:?}"),
    }
}
