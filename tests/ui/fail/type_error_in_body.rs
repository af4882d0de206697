use mruntime::recover;

#[recover(component = "ledger")]
fn balance() -> Option<u64> {
    Some("100")
}

#[recover(component = "ledger")]
async fn balance_async() -> Option<u64> {
    Some("100")
}

fn main() {
    let _ = balance();
    let _ = balance_async();
}
