use mruntime::recover;

const PAYMENTS: u32 = 7;

#[recover(component = PAYMENTS)]
fn charge() -> Option<u64> {
    Some(1)
}

fn main() {
    let _ = charge();
}
