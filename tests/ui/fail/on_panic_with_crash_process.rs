use mruntime::{Panicked, recover};

fn fallback(_: Panicked) -> u32 {
    0
}

#[recover(component = "ledger", policy = CrashProcess, on_panic = fallback)]
fn update_balance() -> u32 {
    1
}

fn main() {
    let _ = update_balance();
}
