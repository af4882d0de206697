use mruntime::safe_task;

#[safe_task(component = "ingest", health = true)]
async fn consume() {}

#[tokio::main]
async fn main() {
    let _ = consume().await;
}
