use mruntime::recover;

#[recover(component = "ledger", restart(max = 3))]
fn update_balance() -> Option<u32> {
    Some(1)
}

fn main() {
    let _ = update_balance();
}
