use mruntime::recover;

#[recover(component = "onboarding")]
async fn create_account() -> Option<u32> {
    tokio::spawn(async { send_welcome_email().await });
    Some(1)
}

async fn send_welcome_email() {}

fn main() {
    let _ = create_account();
}
