#![deny(unused_variables, unused_mut)]

use mruntime::{recover, safe_task};

#[recover(component = "ledger")]
fn balance(account: u32) -> Option<u64> {
    let unused = account;
    Some(1)
}

#[safe_task(component = "ledger")]
async fn sync_all(mut accounts: Vec<u32>) -> usize {
    accounts.len()
}

fn main() {
    let _ = balance(1);
    let _ = sync_all(Vec::new());
}
