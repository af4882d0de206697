//! `#[safe_task]` on a sync function: the body runs on the blocking pool.
#![deny(warnings)]

use std::sync::{Arc, Mutex, Weak};

use mruntime::{TaskError, safe_task};

#[safe_task(component = "reports", name = "render")]
fn render(rows: Vec<u32>, log: Arc<Mutex<Vec<String>>>) -> String {
    let text = rows
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    log.lock().unwrap().push(text.clone());
    text
}

#[safe_task(component = "reports", policy = KeepRunning)]
fn crunch(n: u64) -> u64 {
    assert!(n < 10, "too much work: {n}");
    (1..=n).product()
}

/// The `_guard` argument lives until the task ends, as in the original function, though the
/// body never mentions it.
#[safe_task(component = "reports")]
fn hold(_guard: Arc<()>, probe: Weak<()>, mut steps: u32) -> usize {
    while steps > 0 {
        steps -= 1;
    }
    probe.strong_count()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let log = Arc::new(Mutex::new(Vec::new()));
    assert_eq!(render(vec![1, 2], log.clone()).await.unwrap(), "1,2");
    assert_eq!(*log.lock().unwrap(), ["1,2"]);

    assert_eq!(crunch(5).await.unwrap(), 120);
    match crunch(20).await {
        Err(TaskError::Panicked(panicked)) => assert_eq!(panicked.message(), "too much work: 20"),
        other => panic!("expected a panic, got {other:?}"),
    }

    let guard = Arc::new(());
    let handle = hold(guard.clone(), Arc::downgrade(&guard), 3);
    assert_eq!(handle.await.unwrap(), 2);
    assert_eq!(Arc::strong_count(&guard), 1);
}
