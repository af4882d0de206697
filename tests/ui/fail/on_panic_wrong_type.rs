use mruntime::{Panicked, recover};

fn fallback(panicked: Panicked) -> String {
    panicked.to_string()
}

#[recover(component = "ledger", on_panic = fallback)]
fn balance() -> u64 {
    1
}

fn main() {
    let _ = balance();
}
