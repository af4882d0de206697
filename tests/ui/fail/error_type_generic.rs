use mruntime::recover;

#[recover(component = "ledger")]
fn balance<E>(account: u32) -> Result<u64, E> {
    Ok(u64::from(account))
}

fn main() {
    let _ = balance::<String>(1);
}
