//! `#[safe_task]` on async functions: calling one spawns it and returns its `TaskHandle`.
//! Owned and `Arc` arguments, `self: Arc<Self>`, `self` by value, patterns and generics.
#![deny(warnings)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use mruntime::{TaskError, TaskHandle, safe_task};
use tokio::sync::{Semaphore, mpsc};

#[safe_task(component = "transaction", name = "balance-sync")]
async fn balance_sync(rounds: u32, counter: Arc<AtomicU32>) -> u32 {
    for _ in 0..rounds {
        tokio::task::yield_now().await;
        counter.fetch_add(1, Ordering::SeqCst);
    }
    rounds * 2
}

#[safe_task(component = "transaction")]
async fn failing(message: String) {
    tokio::task::yield_now().await;
    panic!("{message}");
}

#[safe_task(component = "transaction", policy = KeepRunning)]
async fn drain(mut rx: mpsc::Receiver<u32>) -> u32 {
    let mut total = 0;
    while let Some(n) = rx.recv().await {
        total += n;
    }
    total
}

/// Patterns in argument position, and a `_`-prefixed argument the body never uses: like an
/// `async fn`'s, it is moved into the task and lives until the task ends.
#[safe_task(component = "transaction")]
async fn with_permit(
    (a, b): (u32, u32),
    _permit: tokio::sync::OwnedSemaphorePermit,
    semaphore: Arc<Semaphore>,
) -> (u32, usize) {
    tokio::task::yield_now().await;
    (a + b, semaphore.available_permits())
}

#[safe_task(component = "transaction")]
async fn generic<T>(value: T) -> String
where
    T: std::fmt::Display + Send + 'static,
{
    tokio::task::yield_now().await;
    value.to_string()
}

struct Worker {
    name: String,
    stopped: AtomicBool,
}

impl Worker {
    #[safe_task(component = "worker")]
    async fn run(self: Arc<Self>, steps: u32) -> String {
        for _ in 0..steps {
            tokio::task::yield_now().await;
        }
        self.stopped.store(true, Ordering::SeqCst);
        format!("{} done", self.name)
    }

    #[safe_task(component = "worker")]
    async fn into_name(self) -> String {
        self.name
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let counter = Arc::new(AtomicU32::new(0));
    let handle: TaskHandle<u32> = balance_sync(3, counter.clone());
    assert_eq!(handle.await.unwrap(), 6);
    assert_eq!(counter.load(Ordering::SeqCst), 3);

    match failing("boom".into()).await {
        Err(TaskError::Panicked(panicked)) => {
            assert_eq!(panicked.message(), "boom");
            assert_eq!(panicked.component(), "transaction");
            assert_eq!(panicked.name(), "failing");
        }
        other => panic!("expected a panic, got {other:?}"),
    }

    let (tx, rx) = mpsc::channel(4);
    let total = drain(rx);
    for n in 1..=3 {
        tx.send(n).await.unwrap();
    }
    drop(tx);
    assert_eq!(total.await.unwrap(), 6);

    let semaphore = Arc::new(Semaphore::new(1));
    let permit = semaphore.clone().acquire_owned().await.unwrap();
    let sum = with_permit((1, 2), permit, semaphore.clone());
    // The task held the permit while it ran, and released it when it ended.
    assert_eq!(sum.await.unwrap(), (3, 0));
    assert_eq!(semaphore.available_permits(), 1);

    assert_eq!(generic(5).await.unwrap(), "5");

    let worker = Arc::new(Worker {
        name: "w1".into(),
        stopped: AtomicBool::new(false),
    });
    assert_eq!(worker.clone().run(2).await.unwrap(), "w1 done");
    assert!(worker.stopped.load(Ordering::SeqCst));
    let owned = Worker {
        name: "w2".into(),
        stopped: AtomicBool::new(false),
    };
    assert_eq!(owned.into_name().await.unwrap(), "w2");
}
