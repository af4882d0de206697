use mruntime::{TaskContext, safe_task};

#[safe_task(component = "delivery")]
async fn processor(ctx: TaskContext, shutdown: mruntime::TaskContext) {
    ctx.cancelled().await;
    shutdown.cancelled().await;
}

fn main() {}
