use mruntime::recover;

#[recover(component = "ledger")]
async fn balance(account: u32) -> u64 {
    u64::from(account) * 100
}

fn main() {
    let _ = balance(1);
}
