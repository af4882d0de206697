//! The one place in mruntime that really spawns: tokio tasks, jobs on tokio's blocking pool, and
//! OS threads (the crash watchdog). Every other module goes through these functions, so that the
//! project's own clippy ban on raw spawns has a single, visible exception.
#![allow(clippy::disallowed_methods)] // the sanctioned wrapper around tokio's and std's spawns

use std::future::Future;

use tokio::task::JoinHandle;

/// Spawns `future` on the current tokio runtime.
#[inline]
pub(crate) fn task<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::task::spawn(future)
}

/// Runs `f` on the current tokio runtime's blocking pool.
#[inline]
pub(crate) fn blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
}

/// Starts a named OS thread.
pub(crate) fn thread(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
}
