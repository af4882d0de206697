use mruntime::safe_task;

#[safe_task(component = "transaction")]
struct BalanceSync;

fn main() {
    let _ = BalanceSync;
}
