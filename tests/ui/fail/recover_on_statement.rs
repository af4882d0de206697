use mruntime::recover;

fn main() {
    #[recover(component = "ledger")]
    let total = 1 + 2;
    println!("{total}");
}
