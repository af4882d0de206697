use mruntime::safe_task;

#[safe_task(component = "transaction", name = balance_sync)]
async fn balance_sync() {}

fn main() {
    let _ = balance_sync();
}
