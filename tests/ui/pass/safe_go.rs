//! `safe_go!` with keys and positionally, with any future expression.
#![deny(warnings)]

use mruntime::{TaskError, safe_go};

async fn send(to: &'static str) -> usize {
    tokio::task::yield_now().await;
    to.len()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let handle = safe_go!(
        component = "notification",
        name = "email-sender",
        policy = KeepRunning,
        async move { send("ana@example.com").await }
    );
    assert_eq!(handle.await.unwrap(), 15);

    let future = send("bea");
    let handle = safe_go!("notification", "sms-sender", future);
    assert_eq!(handle.await.unwrap(), 3);

    let handle = safe_go!("notification", "push-sender", async {
        panic!("push gateway down");
    },);
    match handle.await {
        Err(TaskError::Panicked(panicked)) => {
            assert_eq!(panicked.component(), "notification");
            assert_eq!(panicked.name(), "push-sender");
            assert_eq!(panicked.message(), "push gateway down");
        }
        other => panic!("expected a panic, got {other:?}"),
    }

    // Any expression that is a future, with a policy path.
    let handles: Vec<_> = (0..3)
        .map(|n| {
            safe_go!(
                component = "batch",
                name = "item",
                policy = mruntime::PanicPolicy::KeepRunning,
                async move { n * 2 }
            )
        })
        .collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.unwrap());
    }
    assert_eq!(results, [0, 2, 4]);
}
