//! The user's attributes, inner attributes, doc comments, visibility and qualifiers survive.
#![deny(warnings, missing_docs)]

use std::sync::Arc;

use mruntime::{recover, safe_task};

/// Items of a module, with visibilities.
pub mod api {
    use super::*;

    /// A documented, `#[must_use]`, `#[inline]` guarded function.
    #[must_use]
    #[inline]
    #[recover(component = "ui")]
    pub fn parse(text: &str) -> Option<u32> {
        #![allow(clippy::needless_return)]
        return text.parse().ok();
    }

    /// Inner attributes at the top of the body.
    #[recover(component = "ui")]
    pub(crate) fn first(values: &[u32]) -> Option<u32> {
        #![allow(unused_variables)]
        let unused = 1;
        Some(values[0])
    }

    /// # Safety
    /// `ptr` must be valid for reads.
    #[recover(component = "ui")]
    pub unsafe fn read(ptr: *const u32) -> Option<u32> {
        Some(unsafe { *ptr })
    }

    /// A panic must not unwind out of an `extern "C"` function: guard it.
    #[recover(component = "ffi", on_panic = |_| -1)]
    pub extern "C" fn ffi_entry(n: i32) -> i32 {
        assert!(n >= 0, "negative input");
        n * 2
    }

    /// A task with a conditionally compiled argument.
    #[safe_task(component = "ui")]
    pub async fn task(
        shared: Arc<String>,
        #[cfg(any())] never_compiled: u32,
        #[cfg(all())] suffix: &'static str,
    ) -> String {
        format!("{shared}{suffix}")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(api::parse("5"), Some(5));
    assert_eq!(api::first(&[]), None);
    let value = 9;
    assert_eq!(unsafe { api::read(&value) }, Some(9));
    assert_eq!(api::ffi_entry(2), 4);
    assert_eq!(api::ffi_entry(-2), -1);
    assert_eq!(api::task(Arc::new("a".into()), "b").await.unwrap(), "ab");
}
