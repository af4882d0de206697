use mruntime::safe_task;

#[safe_task(component = "notification")]
async fn send_email(to: &str, body: String) -> usize {
    to.len() + body.len()
}

#[tokio::main]
async fn main() {
    let to = String::from("ana@example.com");
    let sent: Result<usize, mruntime::TaskError> = send_email(&to, String::new()).await;
    let _ = sent;
}
