//! What the macros expand to. Not public API: names here change without notice.

use std::borrow::Borrow;
use std::future::Future;

pub use crate::guard::{FromPanic, GuardedFuture, GuardedStream};
pub use crate::panic::Panicked;
pub use crate::policy::RestartPolicy;
pub use crate::policy::{PanicPolicy, PanicPolicy::CrashProcess, PanicPolicy::KeepRunning};
pub use crate::site::Site;
use crate::task::Placement;
pub use crate::task::{TaskContext, TaskGroup, TaskHandle};

/// `#[recover]` on a sync fn: run the body guarded, in a span.
#[inline]
pub fn guard_sync<T>(site: &'static Site, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    crate::guard::run_sync(site, f)
}

/// `#[recover]` on an async fn (and async-trait bodies): the body as a guarded future.
#[inline]
pub fn guard_async<F: Future>(site: &'static Site, future: F) -> GuardedFuture<F, &'static Site> {
    GuardedFuture::span_at_first_poll(future, site)
}

/// `#[recover]` on a sync fn returning `impl Stream`: `make` (the body) runs guarded; the stream
/// it returns is guarded on every poll. A panic in `make` gives a stream yielding the one item for
/// the panic.
#[inline]
pub fn guard_stream_sync<S, F>(site: &'static Site, make: F) -> GuardedStream<S, &'static Site>
where
    F: FnOnce() -> S,
    S: futures_core::Stream,
{
    crate::guard::stream_sync(site, make)
}

/// `#[recover]` on an async fn returning `impl Stream`: the body's future runs guarded, then the
/// stream it resolves to is guarded on every poll.
#[inline]
pub async fn guard_stream_async<S, Fut>(
    site: &'static Site,
    make: Fut,
) -> GuardedStream<S, &'static Site>
where
    Fut: Future<Output = S>,
    S: futures_core::Stream,
{
    crate::guard::stream_async(site, make).await
}

/// `safe_go!` and `#[safe_task]` on an async fn. Always inlined (with the spawn under it) into
/// the spawning code: a call here costs as much as the guard itself.
#[inline(always)]
#[track_caller]
pub fn spawn<F>(site: &'static Site, future: F) -> TaskHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::task::spawn_site(site, future)
}

/// [`spawn`] as a method of the future: what the expansions call, so that a future that is not
/// `Send` gets rustc's own explanation (which value is held across which `.await`) without a
/// note pointing into this module.
pub trait SpawnFuture: Future + Sized {
    /// [`spawn`]`(site, self)`.
    fn spawn_guarded(self, site: &'static Site) -> TaskHandle<Self::Output>;
}

impl<F> SpawnFuture for F
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[inline(always)]
    #[track_caller]
    fn spawn_guarded(self, site: &'static Site) -> TaskHandle<F::Output> {
        spawn(site, self)
    }
}

/// Benchmarks (`task_bytes`): the sizes of the futures that [`spawn`] hands to tokio for
/// `future`, without a subscriber recording the task's span (built by the same code as a real
/// spawn) and with one.
pub fn spawned_future_sizes<F>(site: &'static Site, future: F) -> (usize, usize)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let traced = std::mem::size_of::<crate::guard::TaskFuture<F, &'static Site, tracing::Span>>();
    (
        std::mem::size_of_val(&crate::task::untraced_task(site, future)),
        traced,
    )
}

/// `#[safe_task]` on a sync fn.
#[inline]
#[track_caller]
pub fn spawn_blocking<F, T>(site: &'static Site, f: F) -> TaskHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::task::spawn_blocking_site(site, f)
}

/// `safe_go!` with a `|ctx|` closure and/or `group = ..`, and `#[safe_task]` on an async fn with a
/// `ctx: TaskContext` argument and/or `group = ..`, without `restart(..)`: `body(ctx)` runs once.
/// `parent` is the caller's context (`ctx` argument), `group` from [`group`].
#[inline]
#[track_caller]
pub fn spawn_with_context<F, Fut>(
    site: &'static Site,
    parent: Option<&TaskContext>,
    group: Option<&TaskGroup>,
    body: F,
) -> TaskHandle<Fut::Output>
where
    F: FnOnce(TaskContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    crate::task::spawn_once(site, Placement::new(parent, group, false), body)
}

/// `#[safe_task(.., health)]` on an async fn without `restart(..)`: [`spawn_with_context`], the
/// task a health component.
#[inline]
#[track_caller]
pub fn spawn_component<F, Fut>(
    site: &'static Site,
    parent: Option<&TaskContext>,
    group: Option<&TaskGroup>,
    body: F,
) -> TaskHandle<Fut::Output>
where
    F: FnOnce(TaskContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    crate::task::spawn_once(site, Placement::new(parent, group, true), body)
}

/// `#[safe_task(.., health)]` on a sync fn without `restart(..)`.
#[inline]
#[track_caller]
pub fn spawn_blocking_component<F, T>(
    site: &'static Site,
    parent: Option<&TaskContext>,
    group: Option<&TaskGroup>,
    body: F,
) -> TaskHandle<T>
where
    F: FnOnce(TaskContext) -> T + Send + 'static,
    T: Send + 'static,
{
    crate::task::spawn_blocking_once(site, Placement::new(parent, group, true), body)
}

/// `#[safe_task]` on a sync fn with a `ctx` argument and/or `group = ..`, without `restart(..)`.
#[inline]
#[track_caller]
pub fn spawn_blocking_with_context<F, T>(
    site: &'static Site,
    parent: Option<&TaskContext>,
    group: Option<&TaskGroup>,
    body: F,
) -> TaskHandle<T>
where
    F: FnOnce(TaskContext) -> T + Send + 'static,
    T: Send + 'static,
{
    crate::task::spawn_blocking_once(site, Placement::new(parent, group, false), body)
}

/// `safe_go!` / `#[safe_task]` on an async fn with `restart(..)`: `factory(ctx)` is called once
/// per attempt (the expansion clones the fn's arguments inside it), `restart` is a `static` built
/// with [`RestartPolicy::from_millis`].
#[inline]
#[track_caller]
pub fn spawn_supervised<F, Fut>(
    site: &'static Site,
    restart: &'static RestartPolicy,
    parent: Option<&TaskContext>,
    group: Option<&TaskGroup>,
    factory: F,
) -> TaskHandle<Fut::Output>
where
    F: FnMut(TaskContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    crate::task::spawn_supervised(
        site,
        *restart,
        Placement::new(parent, group, false),
        factory,
    )
}

/// `#[safe_task]` on a sync fn with `restart(..)`: `body(ctx)` runs on the blocking pool once per
/// attempt.
#[inline]
#[track_caller]
pub fn spawn_blocking_supervised<F, T>(
    site: &'static Site,
    restart: &'static RestartPolicy,
    parent: Option<&TaskContext>,
    group: Option<&TaskGroup>,
    body: F,
) -> TaskHandle<T>
where
    F: FnMut(TaskContext) -> T + Send + 'static,
    T: Send + 'static,
{
    crate::task::spawn_blocking_supervised(
        site,
        *restart,
        Placement::new(parent, group, false),
        body,
    )
}

/// `group = expr`: accepts a `TaskGroup` or a `&TaskGroup` (emit `group(&(expr))`).
#[inline]
pub fn group<G: Borrow<TaskGroup>>(group: &G) -> &TaskGroup {
    group.borrow()
}

/// A `ctx` argument: accepts a `TaskContext` or a `&TaskContext` (emit `context(&(expr))`).
#[inline]
pub fn context<C: Borrow<TaskContext>>(ctx: &C) -> &TaskContext {
    ctx.borrow()
}

/// `#[recover]` under `CrashProcess`: the guard has already ended the process before it could
/// return `Err`, so this is never reached; it exists to give the expansion any return type.
#[cold]
pub fn crashed<R>(panicked: Panicked) -> R {
    crate::telemetry::crash(&panicked, || {})
}
