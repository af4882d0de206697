use mruntime::recover;

mod labels {
    pub const PAYMENTS: &str = "";
}

#[recover(component = labels::PAYMENTS)]
fn charge() -> Option<u64> {
    Some(1)
}

fn main() {
    let _ = charge();
}
