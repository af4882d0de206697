use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let _handle = safe_go!(
        component = "notification",
        name = "email-sender",
        restart(backoff = "0.5s..10s"),
        |ctx| async move { ctx.attempt() }
    );
}
