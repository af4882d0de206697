use mruntime::recover;

#[recover(component = "onboarding", component = "payments")]
fn create_account() -> Option<u32> {
    Some(1)
}

fn main() {
    let _ = create_account();
}
