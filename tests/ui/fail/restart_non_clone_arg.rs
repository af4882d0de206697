use mruntime::{TaskContext, safe_task};
use tokio::sync::mpsc;

#[safe_task(component = "delivery", restart(max = 5, within = "60s", backoff = "100ms..10s"))]
async fn processor(ctx: TaskContext, mut rx: mpsc::Receiver<u32>, label: String) -> u32 {
    let mut total = ctx.attempt();
    while let Some(n) = rx.recv().await {
        total += n;
    }
    total + label.len() as u32
}

fn main() {}
