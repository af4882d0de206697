use mruntime::{TaskGroup, safe_go};

#[tokio::main]
async fn main() {
    let workers = TaskGroup::new();
    let others = TaskGroup::new();
    let _handle = safe_go!(
        component = "notification",
        name = "email-sender",
        group = workers,
        group = others,
        async move { 42 }
    );
}
