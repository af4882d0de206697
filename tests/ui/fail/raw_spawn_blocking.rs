use mruntime::recover;

#[recover(component = "reports")]
async fn render() -> Option<u32> {
    tokio::task::spawn_blocking(|| 1).await.ok()
}

fn main() {
    let _ = render();
}
