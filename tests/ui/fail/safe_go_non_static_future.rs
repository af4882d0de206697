use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let recipients = vec![String::from("ana@example.com")];
    let handle = safe_go!("notification", "email-sender", async { recipients.len() });
    let _ = handle.await;
}
