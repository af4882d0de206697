use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let handle = safe_go!(component = "notification", async move { 1 });
    let _: u32 = handle.await.unwrap();
}
