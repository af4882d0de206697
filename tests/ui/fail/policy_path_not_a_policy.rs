use mruntime::recover;

mod mine {
    pub struct CrashProcess;
}

#[recover(component = "ledger", policy = mine::CrashProcess)]
fn update_balance() {}

fn main() {
    update_balance();
}
