use mruntime::recover;

#[recover(component = "ledger")]
fn settle() {
    let _ = std::panic::catch_unwind(|| {
        panic!("settlement failed");
    });
}

fn main() {
    settle();
}
