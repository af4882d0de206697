use std::rc::Rc;

use mruntime::safe_go;

#[tokio::main]
async fn main() {
    let handle = safe_go!("notification", "email-sender", async move {
        let shared = Rc::new(1);
        tokio::task::yield_now().await;
        *shared
    });
    let _ = handle.await;
}
