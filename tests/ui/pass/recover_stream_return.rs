//! `#[recover]` on functions returning `impl Stream`: sync and async, a panic while making the
//! stream and a panic while it is polled, each ending the stream with one `Err(E::from(..))`.
#![deny(warnings)]

use futures_core::Stream;
use mruntime::{Panicked, recover};
use tokio_stream::StreamExt;

#[derive(Debug, PartialEq)]
enum ExportError {
    Internal,
}

impl From<Panicked> for ExportError {
    fn from(_: Panicked) -> Self {
        ExportError::Internal
    }
}

#[recover(component = "ui", name = "export")]
fn export(rows: u32, panic_at: u32) -> impl Stream<Item = Result<u32, ExportError>> {
    assert!(rows < 1000, "too many rows");
    tokio_stream::iter(0..rows).map(move |row| {
        assert!(row != panic_at, "row {row} is corrupt");
        Ok(row)
    })
}

#[recover(component = "ui", name = "export_later")]
async fn export_later(rows: u32) -> impl Stream<Item = Result<u32, ExportError>> + Send {
    tokio::task::yield_now().await;
    assert!(rows != 0, "nothing to export");
    tokio_stream::iter((0..rows).map(Ok))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let all: Vec<_> = export(3, 99).collect().await;
    assert_eq!(all, [Ok(0), Ok(1), Ok(2)]);

    let cut: Vec<_> = export(5, 2).collect().await;
    assert_eq!(cut, [Ok(0), Ok(1), Err(ExportError::Internal)]);

    let refused: Vec<_> = export(5000, 0).collect().await;
    assert_eq!(refused, [Err(ExportError::Internal)]);

    let later: Vec<_> = export_later(2).await.collect().await;
    assert_eq!(later, [Ok(0), Ok(1)]);

    let nothing: Vec<_> = export_later(0).await.collect().await;
    assert_eq!(nothing, [Err(ExportError::Internal)]);
}
