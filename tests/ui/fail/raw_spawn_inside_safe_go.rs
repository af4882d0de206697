use mruntime::{recover, safe_go};

#[recover(component = "notification")]
async fn notify() -> Option<u32> {
    // The task is guarded, but a raw spawn inside it is not.
    let handle = safe_go!("notification", "fan-out", async {
        tokio::spawn(async {});
        1
    });
    handle.await.ok()
}

fn main() {
    let _ = notify();
}
