use std::rc::Rc;

use mruntime::safe_task;

#[safe_task(component = "worker")]
async fn count(n: u32) -> u32 {
    let shared = Rc::new(n);
    tokio::task::yield_now().await;
    *shared
}

#[tokio::main]
async fn main() {
    let _ = count(1).await;
}
