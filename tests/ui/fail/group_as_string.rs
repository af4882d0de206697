use mruntime::safe_task;

#[safe_task(component = "delivery", group = "workers")]
async fn processor() {}

fn main() {}
