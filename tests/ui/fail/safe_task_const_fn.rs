use mruntime::safe_task;

#[safe_task(component = "math")]
const fn double(n: u32) -> u32 {
    n * 2
}

#[tokio::main]
async fn main() {
    let _ = double(2).await;
}
