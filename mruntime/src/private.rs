//! What the macros expand to. Not public API: names here change without notice.

use std::future::Future;

pub use crate::guard::{FromPanic, GuardedFuture};
pub use crate::panic::Panicked;
pub use crate::site::Site;
pub use crate::task::TaskHandle;
pub use crate::{PanicPolicy, PanicPolicy::CrashProcess, PanicPolicy::KeepRunning};

/// `#[recover]` on a sync fn: run the body guarded, in a span.
#[inline]
pub fn guard_sync<T>(site: &'static Site, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    crate::guard::run_sync(site, f)
}

/// `#[recover]` on an async fn (and async-trait bodies): the body as a guarded future.
#[inline]
pub fn guard_async<F: Future>(site: &'static Site, future: F) -> GuardedFuture<F, &'static Site> {
    let span = crate::telemetry::carried_guard_span(site);
    GuardedFuture::new(future, site, span)
}

/// `safe_go!` and `#[safe_task]` on an async fn.
#[inline]
pub fn spawn<F>(site: &'static Site, future: F) -> TaskHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::task::spawn_site(site, future)
}

/// Benchmarks (`task_bytes`): the size of the future that [`spawn`] hands to tokio for `future`,
/// built by the same code as a real spawn (without spawning it).
pub fn spawned_future_size<F>(site: &'static Site, future: F) -> usize
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    std::mem::size_of_val(&crate::task::guarded_task(site, future))
}

/// `#[safe_task]` on a sync fn.
#[inline]
pub fn spawn_blocking<F, T>(site: &'static Site, f: F) -> TaskHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::task::spawn_blocking_site(site, f)
}

/// `#[recover]` under `KeepRunning` without `on_panic`: the return type's value for a panic.
#[inline]
pub fn from_panic<R: FromPanic>(panicked: Panicked) -> R {
    R::from_panic(panicked)
}

/// `#[recover]` under `CrashProcess`: the guard has already ended the process before it could
/// return `Err`, so this is never reached; it exists to give the expansion any return type.
#[cold]
pub fn crashed<R>(panicked: Panicked) -> R {
    crate::telemetry::crash(&panicked)
}
