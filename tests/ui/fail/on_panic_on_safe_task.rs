use mruntime::{Panicked, safe_task};

fn fallback(_: Panicked) -> u32 {
    0
}

#[safe_task(component = "worker", on_panic = fallback)]
async fn work() -> u32 {
    1
}

#[tokio::main]
async fn main() {
    let _ = work().await;
}
