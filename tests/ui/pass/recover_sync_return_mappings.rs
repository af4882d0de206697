//! `#[recover]` on sync functions, for every return type with a value after a panic.
#![deny(warnings)]

use std::sync::atomic::{AtomicU32, Ordering};

use mruntime::{FromPanic, Panicked, recover};

#[derive(Debug)]
struct ApiError(String);

impl From<Panicked> for ApiError {
    fn from(panicked: Panicked) -> Self {
        ApiError(panicked.message().to_owned())
    }
}

impl From<std::num::ParseIntError> for ApiError {
    fn from(error: std::num::ParseIntError) -> Self {
        ApiError(error.to_string())
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    Done(u32),
    Failed(String),
}

impl FromPanic for Reply {
    fn from_panic(panicked: Panicked) -> Self {
        Reply::Failed(panicked.message().to_owned())
    }
}

static CALLS: AtomicU32 = AtomicU32::new(0);

#[recover(component = "ui", name = "unit")]
fn unit(fail: bool) {
    assert!(!fail, "unit failed");
    CALLS.fetch_add(1, Ordering::SeqCst);
}

#[recover(component = "ui")]
fn option(fail: bool) -> Option<u32> {
    if fail {
        panic!("option failed");
    }
    Some(7)
}

/// `?` and an early `return` keep their meaning inside the guard.
#[recover(component = "ui")]
fn result(input: &str) -> Result<u32, ApiError> {
    if input.is_empty() {
        return Err(ApiError("empty".into()));
    }
    let n: u32 = input.parse()?;
    assert!(n < 100, "too big: {n}");
    Ok(n)
}

#[recover(component = "ui")]
fn custom(fail: bool) -> Reply {
    assert!(!fail, "custom failed");
    Reply::Done(1)
}

trait Shape {
    fn sides(&self) -> u32;
}
struct Square;
struct Triangle;
impl Shape for Square {
    fn sides(&self) -> u32 {
        4
    }
}
impl Shape for Triangle {
    fn sides(&self) -> u32 {
        3
    }
}

/// An early `return` coerces to the declared type, as in an unguarded function.
#[recover(component = "ui")]
fn boxed(square: bool) -> Option<Box<dyn Shape>> {
    if square {
        return Some(Box::new(Square));
    }
    Some(Box::new(Triangle))
}

/// A body that only returns early.
#[recover(component = "ui")]
fn only_returns(n: u32) -> Option<u32> {
    return Some(n + 1);
}

fn main() {
    unit(false);
    unit(true);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);

    assert_eq!(option(false), Some(7));
    assert_eq!(option(true), None);

    assert_eq!(result("42").unwrap(), 42);
    assert_eq!(result("").unwrap_err().0, "empty");
    assert_eq!(result("x").unwrap_err().0, "invalid digit found in string");
    assert_eq!(result("420").unwrap_err().0, "too big: 420");

    assert_eq!(custom(false), Reply::Done(1));
    assert_eq!(custom(true), Reply::Failed("custom failed".into()));

    assert_eq!(boxed(true).unwrap().sides(), 4);
    assert_eq!(boxed(false).unwrap().sides(), 3);
    assert_eq!(only_returns(1), Some(2));
}
