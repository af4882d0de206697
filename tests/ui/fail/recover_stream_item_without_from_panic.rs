use futures_core::Stream;
use mruntime::recover;

#[recover(component = "ui")]
fn counts() -> impl Stream<Item = u32> {
    tokio_stream::iter(vec![1, 2, 3])
}

fn main() {
    let _ = counts();
}
