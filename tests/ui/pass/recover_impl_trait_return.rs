//! `#[recover]` on functions returning `impl Trait`: inside `Option`/`Result` under KeepRunning,
//! and bare under CrashProcess.
#![deny(warnings)]

use std::fmt::Display;

use mruntime::{Panicked, recover};

#[derive(Debug)]
struct Failed;

impl From<Panicked> for Failed {
    fn from(_: Panicked) -> Self {
        Failed
    }
}

#[recover(component = "ui")]
fn label(n: u32) -> Result<impl Display, Failed> {
    assert!(n != 0, "zero");
    if n == 1 {
        return Ok(String::from("one"));
    }
    Ok(format!("{n} items"))
}

#[recover(component = "ui")]
fn evens(limit: u32) -> Option<impl Iterator<Item = u32>> {
    assert!(limit < 1000, "limit too large");
    Some((0..limit).filter(|n| n % 2 == 0))
}

#[recover(component = "ui")]
async fn later(n: u32) -> Option<impl Display> {
    tokio::task::yield_now().await;
    assert!(n != 0, "zero");
    Some(n * 10)
}

/// Under CrashProcess the return type needs no panic value: the process ends instead.
#[recover(component = "ui", policy = CrashProcess)]
fn greeting(name: &str) -> impl Display + '_ {
    format_args!("hello {name}").to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(label(1).unwrap().to_string(), "one");
    assert_eq!(label(3).unwrap().to_string(), "3 items");
    assert!(label(0).is_err());
    assert_eq!(evens(5).unwrap().collect::<Vec<_>>(), [0, 2, 4]);
    assert!(evens(5000).is_none());
    assert_eq!(later(2).await.unwrap().to_string(), "20");
    assert!(later(0).await.is_none());
    assert_eq!(greeting("ana").to_string(), "hello ana");
}
