use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let handle = safe_go!(component = "notification", name = "email-sender");
    let _ = handle.await;
}
