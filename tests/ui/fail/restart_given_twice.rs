use mruntime::{TaskContext, safe_task};

#[safe_task(component = "delivery", restart(max = 5), restart(max = 3))]
async fn processor(ctx: TaskContext) -> u32 {
    ctx.attempt()
}

fn main() {}
