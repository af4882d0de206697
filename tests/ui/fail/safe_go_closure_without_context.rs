use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let _handle = safe_go!(
        component = "notification",
        name = "email-sender",
        || async move { 42 }
    );
}
