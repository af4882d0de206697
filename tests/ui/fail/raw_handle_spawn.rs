use mruntime::recover;

#[recover(component = "notification")]
fn notify() {
    tokio::runtime::Handle::current().spawn(async {});
}

fn main() {
    notify();
}
