//! `on_panic = path::to_fn` gives the value to return after a panic, for any return type.
#![deny(warnings)]

use mruntime::{Panicked, recover};

#[derive(Debug, PartialEq)]
struct Status(u16, String);

mod fallback {
    use super::*;

    pub(crate) fn status(panicked: Panicked) -> Status {
        Status(500, panicked.message().to_owned())
    }

    pub(crate) fn zero(_: Panicked) -> u64 {
        0
    }
}

#[recover(component = "ui", on_panic = fallback::status)]
fn handle(path: &str) -> Status {
    assert!(path.starts_with('/'), "bad path {path}");
    Status(200, path.to_owned())
}

#[recover(component = "ui", on_panic = fallback::zero)]
async fn count(items: Vec<u64>) -> u64 {
    tokio::task::yield_now().await;
    items
        .iter()
        .map(|n| n.checked_add(1).expect("overflow"))
        .sum()
}

/// `on_panic` wins over the return type's own mapping.
#[recover(component = "ui", on_panic = |_| Some(-1))]
fn parse(text: &str) -> Option<i64> {
    Some(text.parse().expect("a number"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(handle("/a"), Status(200, "/a".into()));
    assert_eq!(handle("a"), Status(500, "bad path a".into()));
    assert_eq!(count(vec![1, 2]).await, 5);
    assert_eq!(count(vec![u64::MAX]).await, 0);
    assert_eq!(parse("7"), Some(7));
    assert_eq!(parse("x"), Some(-1));
}
