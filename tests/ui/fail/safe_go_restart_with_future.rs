use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let _handle = safe_go!(
        component = "notification",
        name = "email-sender",
        restart(max = 5, within = "60s", backoff = "100ms..10s"),
        async move { 42 }
    );
}
