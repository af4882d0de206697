use mruntime::recover;

#[recover(component = onboarding, name = "a", name = "b", policy = Crash, retries = 3)]
fn create_account() -> Option<u32> {
    Some(1)
}

fn main() {
    let _ = create_account();
}
