use mruntime::recover;

#[derive(Debug)]
pub struct DbError;

#[recover(component = "ledger")]
fn balance(account: u32) -> Result<u64, DbError> {
    Ok(u64::from(account))
}

#[recover(component = "ledger")]
async fn balance_async(account: u32) -> Result<u64, DbError> {
    Ok(u64::from(account))
}

fn main() {
    let _ = balance(1);
    let _ = balance_async(1);
}
