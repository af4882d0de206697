use mruntime::recover;

#[recover(component = "ledger")]
fn balance(account: u32) -> std::io::Result<u64> {
    Ok(u64::from(account))
}

fn main() {
    let _ = balance(1);
}
