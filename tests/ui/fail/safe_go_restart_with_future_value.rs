use mruntime::safe_go;

async fn send() -> usize {
    42
}

#[tokio::main]
async fn main() {
    let future = send();
    let _handle = safe_go!(
        component = "notification",
        name = "email-sender",
        restart(max = 5),
        future
    );
}
