use mruntime::safe_task;

#[safe_task(component = "delivery", context = parent)]
async fn processor() {}

fn main() {}
