//! `#[safe_task(.., health)]`: a task without `restart(..)` made a health component, async and
//! sync, with a context argument and a group, and beside `restart(..)` (where it changes nothing).
#![deny(warnings)]

use mruntime::{TaskContext, TaskGroup, safe_task};

#[safe_task(component = "ingest", name = "kafka-loop", health)]
async fn kafka_loop(topic: String) -> usize {
    topic.len()
}

#[safe_task(component = "ingest", health)]
fn blocking_loop(rounds: u32) -> u32 {
    rounds
}

#[safe_task(component = "ingest", health, group = workers)]
async fn in_group(ctx: TaskContext, workers: TaskGroup) {
    let _ = workers;
    ctx.cancelled().await;
}

#[safe_task(component = "ingest", health, restart(max = 1, within = "1s", backoff = "1ms..2ms"))]
async fn supervised() {}

#[tokio::main]
async fn main() {
    assert_eq!(kafka_loop("orders".into()).await.unwrap(), 6);
    assert_eq!(blocking_loop(3).await.unwrap(), 3);
    let workers = TaskGroup::new();
    let handle = in_group(workers.context(), workers.clone());
    let _ = workers.shutdown(std::time::Duration::from_secs(1)).await;
    let _ = handle.await;
    supervised().await.unwrap();
    assert!(mruntime::health::report().get("ingest", "kafka-loop").is_some());
}
