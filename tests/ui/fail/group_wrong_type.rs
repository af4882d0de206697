use mruntime::{TaskContext, safe_task};

struct Workers;

static WORKERS: Workers = Workers;

#[safe_task(component = "delivery", group = WORKERS)]
async fn processor(ctx: TaskContext) {
    ctx.cancelled().await;
}

fn main() {}
