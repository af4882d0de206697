use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let handle = safe_go!(
        "notification",
        "email-sender",
        async move { 1 },
        policy = KeepRunning
    );
    let _: u32 = handle.await.unwrap();
}
