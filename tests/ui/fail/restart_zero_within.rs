use mruntime::{TaskContext, safe_task};

#[safe_task(component = "delivery", restart(within = "0s"))]
async fn processor(ctx: TaskContext) -> u32 {
    ctx.attempt()
}

fn main() {}
