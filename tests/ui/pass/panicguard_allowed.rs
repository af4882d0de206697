//! What the raw-spawn check must not reject: `allow_raw_spawn`, spawns through mruntime,
//! spawns in nested fn items, and `spawn` names that are not tokio's.
#![deny(warnings)]
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mruntime::{recover, safe_go, safe_task};

/// A pool of the user's own, with a `spawn` method.
struct Pool {
    jobs: AtomicU32,
}

impl Pool {
    fn new() -> Self {
        Pool {
            jobs: AtomicU32::new(0),
        }
    }

    fn spawn(&self, job: impl FnOnce() -> u32) -> u32 {
        self.jobs.fetch_add(1, Ordering::SeqCst);
        job()
    }
}

/// The justified exception: opted out with `allow_raw_spawn`.
#[recover(component = "ui", allow_raw_spawn)]
async fn deliberate() -> Option<u32> {
    tokio::spawn(async { 1 }).await.ok()
}

#[recover(component = "ui")]
async fn guarded_spawns() -> Option<u32> {
    // mruntime's own spawns.
    let a = safe_go!("ui", "child", async { 2 }).await.ok()?;
    let b = mruntime::spawn("ui", "fn-api", mruntime::PanicPolicy::KeepRunning, async {
        3
    })
    .await
    .ok()?;

    // A spawn in a nested fn item is that function's business.
    #[allow(dead_code)]
    fn detached() {
        tokio::spawn(async {});
        std::thread::spawn(|| ());
    }

    // A `spawn` method on a type that is not tokio's, and a local named `spawn`.
    let pool = Pool::new();
    let rt = Pool::new();
    let c = pool.spawn(|| 4) + rt.spawn(|| 0);
    let spawn = |n: u32| n + 1;
    let d = spawn(4);

    // Scoped threads propagate their panics to the scope: not a raw spawn.
    let e = std::thread::scope(|scope| scope.spawn(|| 6).join().unwrap());

    // A handled `catch_unwind` is fine.
    let f = match std::panic::catch_unwind(|| 7) {
        Ok(n) => n,
        Err(_) => 0,
    };
    Some(a + b + c + d + e + f)
}

#[safe_task(component = "ui")]
fn blocking_with_local_spawn(counter: Arc<AtomicU32>) -> u32 {
    fn spawn(counter: &AtomicU32) -> u32 {
        counter.fetch_add(1, Ordering::SeqCst) + 1
    }
    spawn(&counter)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(deliberate().await, Some(1));
    assert_eq!(guarded_spawns().await, Some(2 + 3 + 4 + 5 + 6 + 7));
    let counter = Arc::new(AtomicU32::new(0));
    assert_eq!(blocking_with_local_spawn(counter).await.unwrap(), 1);
}
