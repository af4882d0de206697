use async_trait::async_trait;
use mruntime::recover;

#[async_trait]
trait Ledger {
    async fn balance(&self, account: u32) -> u64;
}

struct Memory;

#[async_trait]
impl Ledger for Memory {
    #[recover(component = "ledger")]
    async fn balance(&self, account: u32) -> u64 {
        u64::from(account) * 100
    }
}

fn main() {
    let _ = Memory.balance(1);
}
