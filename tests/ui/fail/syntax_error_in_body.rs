use mruntime::{recover, safe_task};

#[recover(component = "ledger")]
fn balance(account: u32) -> Option<u64> {
    let total = u64::from(account) +;
    Some(total)
}

#[safe_task(component = "ledger")]
async fn sync_balances() {
    let = 1;
}

fn main() {
    let _ = balance(1);
}
