use std::future::Future;

use mruntime::recover;

async fn load() -> Option<u32> {
    Some(1)
}

#[recover(component = "cache")]
fn load_all() -> impl Future<Output = Option<u32>> {
    load()
}

fn main() {
    let _ = load_all();
}
