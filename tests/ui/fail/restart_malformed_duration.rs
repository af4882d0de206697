use mruntime::{TaskContext, safe_task};

#[safe_task(component = "delivery", restart(max = 5, within = "60sec"))]
async fn processor(ctx: TaskContext) -> u32 {
    ctx.attempt()
}

fn main() {}
