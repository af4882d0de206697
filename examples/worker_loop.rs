//! A delivery worker as the panic-safety audit describes it (processor.go), in three layers:
//!
//! 1. the worker is a supervised task in a `TaskGroup` (the audit's outer goroutine recover);
//! 2. its loop is restarted with exponential backoff when it panics (`Start()`'s retry logic),
//!    here after a simulated broker hiccup;
//! 3. each queue item is processed under its own guard (`#[recover]` on `deliver`): a panicking
//!    item is reported, reset to `pending` for a retry, and marked `failed` after too many
//!    attempts, while the loop goes on.
//!
//! Then the service shuts the group down within a deadline (Go's `StopAll(30s)`) and prints the
//! report. Run it with `cargo run --example worker_loop`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mruntime::{Panicked, RestartPolicy, TaskContext, TaskGroup, recover};

/// After this many panicking attempts an item is given up on.
const MAX_ITEM_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Processing,
    Delivered,
    Failed,
}

#[derive(Debug)]
struct Item {
    id: u32,
    payload: &'static str,
    status: Status,
    attempts: u32,
}

/// An in-memory stand-in for the delivery queue table.
#[derive(Clone)]
struct Queue {
    items: Arc<Mutex<Vec<Item>>>,
    broker_hiccup: Arc<AtomicBool>,
}

impl Queue {
    fn new(payloads: &[&'static str]) -> Self {
        let items = (1..)
            .zip(payloads)
            .map(|(id, &payload)| Item {
                id,
                payload,
                status: Status::Pending,
                attempts: 0,
            })
            .collect();
        Queue {
            items: Arc::new(Mutex::new(items)),
            broker_hiccup: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Claims up to `max` pending items (marks them `processing`).
    fn claim_pending(&self, max: usize) -> Vec<(u32, &'static str, u32)> {
        if self.broker_hiccup.swap(false, Ordering::SeqCst) {
            // Outside the per-item guard: this panic takes the worker's loop down, once.
            panic!("broker connection reset while claiming items");
        }
        let mut items = self.items.lock().unwrap();
        items
            .iter_mut()
            .filter(|item| item.status == Status::Pending)
            .take(max)
            .map(|item| {
                item.status = Status::Processing;
                item.attempts += 1;
                (item.id, item.payload, item.attempts)
            })
            .collect()
    }

    fn set_status(&self, id: u32, status: Status) {
        let mut items = self.items.lock().unwrap();
        if let Some(item) = items.iter_mut().find(|item| item.id == id) {
            item.status = status;
        }
    }

    /// The audit's recovery for a panicking item: back to `pending` for a retry, or `failed`
    /// once it has used up its attempts.
    fn reset_after_panic(&self, id: u32, attempts: u32) -> Status {
        let status = if attempts < MAX_ITEM_ATTEMPTS {
            Status::Pending
        } else {
            Status::Failed
        };
        self.set_status(id, status);
        status
    }

    fn is_settled(&self) -> bool {
        let items = self.items.lock().unwrap();
        items
            .iter()
            .all(|item| matches!(item.status, Status::Delivered | Status::Failed))
    }

    fn print(&self) {
        for item in self.items.lock().unwrap().iter() {
            println!(
                "  item {} {:<28} {:?} after {} attempt(s)",
                item.id, item.payload, item.status, item.attempts
            );
        }
    }
}

/// Delivers one item, guarded on its own: a panic in here is reported once (log, metric, span,
/// reporter) with its location, and becomes `Err(Panicked)` for the loop to handle. Some payloads
/// panic: a flaky one on its first attempt, a malformed one every time.
#[recover(component = "delivery", name = "process_item")]
fn deliver(id: u32, payload: &str, attempt: u32) -> Result<(), Panicked> {
    if payload.starts_with("flaky") && attempt == 1 {
        panic!("webhook timed out for item {id}");
    }
    if let Some(cents) = payload.strip_prefix("malformed:") {
        let _cents: u64 = cents
            .parse()
            .expect("amount must be a whole number of cents");
    }
    Ok(())
}

/// The worker loop: one supervised task, one guard per item.
async fn delivery_worker(ctx: TaskContext, queue: Queue) {
    tracing::info!(attempt = ctx.attempt(), "delivery worker started");
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = ctx.cancelled() => {
                tracing::info!("delivery worker stopping");
                return;
            }
            _ = tick.tick() => {}
        }
        for (id, payload, attempt) in queue.claim_pending(10) {
            // The per-item guard is `#[recover]` on `deliver`: one bad item does not take the
            // loop down.
            let delivered = deliver(id, payload, attempt);
            match delivered {
                Ok(()) => queue.set_status(id, Status::Delivered),
                Err(panicked) => {
                    let status = queue.reset_after_panic(id, attempt);
                    tracing::warn!(
                        item = id,
                        ?status,
                        "item reset after panic: {}",
                        panicked.message()
                    );
                }
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let subscriber = tracing_subscriber::fmt().with_target(false).finish();
    tracing::subscriber::set_global_default(subscriber).expect("a global subscriber");

    let queue = Queue::new(&[
        "order-1001",
        "flaky:order-1002",
        "malformed:12x",
        "order-1004",
    ]);

    let workers = TaskGroup::new();
    let handle = workers
        .task("delivery", "processor")
        .restart(RestartPolicy::from_millis(5, 60_000, 100, 10_000))
        .spawn({
            let queue = queue.clone();
            move |ctx| delivery_worker(ctx, queue.clone())
        });

    while !queue.is_settled() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("queue settled:");
    queue.print();

    let report = workers.shutdown(Duration::from_secs(30)).await;
    println!("shutdown: {report}");
    assert!(report.is_clean(), "every worker stopped in time");
    handle.await.expect("the worker stopped cleanly");
}
