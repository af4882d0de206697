use mruntime::recover;

#[recover(component = "ledger")]
fn balance(account: u32) -> Result<u64, String> {
    Ok(u64::from(account))
}

fn main() {
    let _ = balance(1);
}
