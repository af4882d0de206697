//! `#[recover]` on async functions, for every return type with a value after a panic.
#![deny(warnings)]

use mruntime::{FromPanic, Panicked, recover};

#[derive(Debug)]
struct ApiError(String);

impl From<Panicked> for ApiError {
    fn from(panicked: Panicked) -> Self {
        ApiError(panicked.message().to_owned())
    }
}

#[derive(Debug, PartialEq)]
enum Reply {
    Done,
    Failed(String),
}

impl FromPanic for Reply {
    fn from_panic(panicked: Panicked) -> Self {
        Reply::Failed(panicked.message().to_owned())
    }
}

async fn pause() {
    tokio::task::yield_now().await;
}

#[recover(component = "ui", name = "async.unit")]
async fn unit(fail: bool) {
    pause().await;
    assert!(!fail, "unit failed");
}

#[recover(component = "ui")]
async fn option(fail: bool) -> Option<u32> {
    pause().await;
    if fail {
        panic!("option failed after an await");
    }
    Some(7)
}

#[recover(component = "ui")]
async fn result(input: String) -> Result<u32, ApiError> {
    if input.is_empty() {
        return Err(ApiError("empty".into()));
    }
    pause().await;
    let n: u32 = input.parse().map_err(|_| ApiError("not a number".into()))?;
    assert!(n < 100, "too big: {n}");
    Ok(n)
}

#[recover(component = "ui")]
async fn custom(fail: bool) -> Reply {
    pause().await;
    assert!(!fail, "custom failed");
    Reply::Done
}

/// Borrowed arguments and a borrowed result: the guarded future borrows like the original.
#[recover(component = "ui")]
async fn first_word(text: &str) -> Option<&str> {
    pause().await;
    Some(
        text.split(' ')
            .next()
            .expect("split yields at least one item"),
    )
}

/// A sync function returning an async block: the future is guarded, not just its creation.
#[recover(component = "ui")]
fn deferred(fail: bool) -> impl std::future::Future<Output = Option<u32>> {
    let base = 40;
    async move {
        pause().await;
        assert!(!fail, "deferred failed");
        Some(base + 2)
    }
}

/// The guarded future stays `Send` when the body is.
fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    unit(false).await;
    unit(true).await;

    assert_eq!(option(false).await, Some(7));
    assert_eq!(option(true).await, None);

    assert_eq!(result("42".into()).await.unwrap(), 42);
    assert_eq!(result(String::new()).await.unwrap_err().0, "empty");
    assert_eq!(result("x".into()).await.unwrap_err().0, "not a number");
    assert_eq!(result("420".into()).await.unwrap_err().0, "too big: 420");

    assert_eq!(custom(false).await, Reply::Done);
    assert_eq!(custom(true).await, Reply::Failed("custom failed".into()));

    let text = String::from("hello world");
    assert_eq!(first_word(&text).await, Some("hello"));

    assert_send(option(false)).await;

    let future = deferred(true);
    assert_eq!(future.await, None);
    assert_eq!(deferred(false).await, Some(42));
}
