//! The one place in mruntime that really spawns: tokio tasks, jobs on tokio's blocking pool, and
//! OS threads (the crash watchdog). Every other module goes through these functions, so that the
//! project's own clippy ban on raw spawns has a single, visible exception.
#![allow(clippy::disallowed_methods)] // the sanctioned wrapper around tokio's and std's spawns

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Spawns `future` on the current tokio runtime.
///
/// Outside a runtime this panics at the caller's line (every function of the spawn path is
/// `#[track_caller]`, down to the user's `safe_go!` or call), saying what to do.
#[inline]
#[track_caller]
pub(crate) fn task<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    check_runtime();
    // The spawner's Sentry hub, as its span, goes with the task; a task without one is spawned
    // as it is (no wrapper: the same future, the same size).
    #[cfg(feature = "sentry")]
    if let Some(hub) = crate::sentry::carry::to_carry() {
        return tokio::task::spawn(crate::sentry::carry::WithHub::new(hub, future));
    }
    tokio::task::spawn(future)
}

/// Runs `f` on the current tokio runtime's blocking pool; outside a runtime, panics as
/// [`task`] does.
#[inline]
#[track_caller]
pub(crate) fn blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    check_runtime();
    #[cfg(feature = "sentry")]
    if let Some(hub) = crate::sentry::carry::to_carry() {
        return tokio::task::spawn_blocking(move || sentry_core::Hub::run(hub, f));
    }
    tokio::task::spawn_blocking(f)
}

/// What a spawn outside a tokio runtime panics with (instead of tokio's "there is no reactor
/// running", at a line of mruntime's).
pub(crate) const OUTSIDE_RUNTIME: &str = "mruntime: a guarded task (`safe_go!`, a \
    `#[safe_task]` fn, `mruntime::spawn`, `mruntime::spawn_blocking`, `Task::spawn`) was \
    started outside a tokio runtime: call it from inside one (under `#[tokio::main]` or \
    `#[tokio::test]`, in `Runtime::block_on`, or from a task the runtime runs)";

/// Panics at the caller's line when there is no tokio runtime here. Inside a task (the common
/// case) that is one thread-local read: `Handle::try_current` would clone the runtime's handle,
/// an atomic shared by every worker. (A task of a `LocalSet` driven outside any runtime gets
/// tokio's own message, at the caller's line too: tokio's spawns are `#[track_caller]`.)
#[inline]
#[track_caller]
fn check_runtime() {
    if tokio::task::try_id().is_none() && Handle::try_current().is_err() {
        outside_runtime()
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn outside_runtime() -> ! {
    panic!("{OUTSIDE_RUNTIME}")
}

/// Starts a named OS thread.
pub(crate) fn thread(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map(drop)
}
