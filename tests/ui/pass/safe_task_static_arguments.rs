//! Arguments that look borrowed but are `'static`: `&'static` references, function pointers and
//! closures over borrowed arguments (higher-ranked), and a `_` argument kept for the task.
#![deny(warnings)]

use std::sync::{Arc, Weak};

use mruntime::safe_task;

#[safe_task(component = "ui")]
async fn measure(
    label: &'static str,
    count: fn(&str) -> usize,
    weigh: Box<dyn Fn(&str) -> usize + Send>,
    _: Arc<()>,
    probe: Weak<()>,
) -> (usize, usize, usize) {
    tokio::task::yield_now().await;
    (count(label), weigh(label), probe.strong_count())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let kept = Arc::new(());
    let handle = measure(
        "abc",
        str::len,
        Box::new(|s: &str| s.len() * 2),
        kept.clone(),
        Arc::downgrade(&kept),
    );
    // The `_` argument lived in the task: two strong references while it ran.
    assert_eq!(handle.await.unwrap(), (3, 6, 2));
    assert_eq!(Arc::strong_count(&kept), 1);
}
