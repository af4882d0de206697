use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let recipients = vec![String::from("ana@example.com")];
    let _handle = safe_go!(
        component = "notification",
        name = "email-sender",
        restart,
        move |_ctx| async move { recipients.len() }
    );
}
