use futures_core::Stream;
use mruntime::{Panicked, recover};

fn fallback(_: Panicked) -> Result<u32, String> {
    Err(String::from("failed"))
}

#[recover(component = "ui", on_panic = fallback)]
fn rows() -> impl Stream<Item = Result<u32, String>> {
    tokio_stream::iter(vec![Ok(1)])
}

fn main() {
    let _ = rows();
}
