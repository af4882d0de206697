use mruntime::{TaskContext, safe_task};

#[safe_task(component = "delivery", restart(max_restarts = 5, within = "60s"))]
async fn processor(ctx: TaskContext) -> u32 {
    ctx.attempt()
}

fn main() {}
