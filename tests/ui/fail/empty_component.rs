use mruntime::recover;

#[recover(component = "")]
fn create_account() -> Option<u32> {
    Some(1)
}

fn main() {
    let _ = create_account();
}
