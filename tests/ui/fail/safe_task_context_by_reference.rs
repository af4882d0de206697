use mruntime::{TaskContext, safe_task};

#[safe_task(component = "delivery")]
async fn processor(ctx: &TaskContext) {
    ctx.cancelled().await;
}

fn main() {}
