#[tokio::main]
async fn main() {
    let handle = mruntime::safe_go!(component = "mail", name = "send", health, async {});
    let _ = handle.await;
}
