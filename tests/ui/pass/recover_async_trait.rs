//! `#[recover]` on `#[async_trait]` methods: the `Box::pin(async move { .. })` body that
//! async-trait writes is found and the future itself is guarded (not just its creation).
#![deny(warnings)]

use async_trait::async_trait;
use mruntime::{Panicked, recover};

#[derive(Debug)]
struct StoreError(String);

impl From<Panicked> for StoreError {
    fn from(panicked: Panicked) -> Self {
        StoreError(panicked.message().to_owned())
    }
}

#[async_trait]
trait Store {
    async fn get(&self, key: &str) -> Result<u32, StoreError>;
    async fn put(&mut self, key: String, value: u32) -> Option<u32>;

    /// `on_panic` on an async-trait method: typed against the future's output.
    #[recover(component = "ui", name = "store.size", on_panic = no_size)]
    async fn size(&self) -> usize {
        tokio::task::yield_now().await;
        panic!("size is not supported")
    }

    /// A default method body, guarded in the trait itself.
    #[recover(component = "ui", name = "store.count")]
    async fn count(&self) -> Option<usize> {
        tokio::task::yield_now().await;
        panic!("count is not supported")
    }
}

fn no_size(_: Panicked) -> usize {
    usize::MAX
}

struct Memory(Vec<(String, u32)>);

#[async_trait]
impl Store for Memory {
    #[recover(component = "ui", name = "store.get")]
    async fn get(&self, key: &str) -> Result<u32, StoreError> {
        tokio::task::yield_now().await;
        let (_, value) = self
            .0
            .iter()
            .find(|(k, _)| k == key)
            .expect("key not found");
        Ok(*value)
    }

    #[recover(component = "ui", name = "store.put")]
    async fn put(&mut self, key: String, value: u32) -> Option<u32> {
        tokio::task::yield_now().await;
        assert!(!key.is_empty(), "empty key");
        self.0.push((key, value));
        Some(value)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut store = Memory(Vec::new());
    assert_eq!(store.put("a".into(), 1).await, Some(1));
    assert_eq!(store.put(String::new(), 2).await, None);
    assert_eq!(store.get("a").await.unwrap(), 1);
    assert_eq!(store.get("b").await.unwrap_err().0, "key not found");
    assert_eq!(store.count().await, None);
    assert_eq!(store.size().await, usize::MAX);

    // The trait object works too: the guarded future is still `Send`.
    let store: Box<dyn Store + Send + Sync> = Box::new(store);
    let handle = mruntime::safe_go!("ui", "store.task", async move { store.get("a").await.ok() });
    assert_eq!(handle.await.unwrap(), Some(1));
}
