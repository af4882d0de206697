//! Fire and forget: `.detach()` on what `safe_go!` and a `#[safe_task]` fn return, warning-free
//! (`let _ = ..` on a handle is what clippy's `let_underscore_future` flags).
#![deny(warnings)]

use mruntime::{safe_go, safe_task};

#[safe_task(component = "ui", name = "audit")]
async fn audit(entry: String) -> usize {
    entry.len()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    safe_go!(component = "ui", name = "notify", async { 1 }).detach();
    audit("posted".to_owned()).detach();
    tokio::task::yield_now().await;
}
