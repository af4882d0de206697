use mruntime::recover;

#[recover(name = "handler.create_account")]
fn create_account() -> Option<u32> {
    Some(1)
}

fn main() {
    let _ = create_account();
}
