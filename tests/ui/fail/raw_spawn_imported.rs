use mruntime::recover;

#[recover(component = "notification")]
async fn notify() {
    use std::thread;
    use tokio::task::spawn_local as spawn_here;

    spawn_here(async {});
    thread::spawn(|| ());
}

fn main() {
    let _ = notify();
}
