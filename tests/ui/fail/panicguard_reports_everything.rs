use mruntime::recover;
use std::panic;

#[recover(component = "ledger")]
async fn settle() {
    tokio::spawn(async {});
    let _ = panic::catch_unwind(|| ());
    std::thread::spawn(|| ());
}

fn main() {
    let _ = settle();
}
