use mruntime::recover;

#[recover(component = "ledger", policy = "crash")]
fn update_balance() {}

fn main() {
    update_balance();
}
