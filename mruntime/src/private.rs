//! What the macros expand to. Not public API: names here change without notice.

use std::borrow::Borrow;
use std::future::Future;

pub use crate::guard::{FromPanic, GuardedFuture};
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
    GuardedFuture::new(future, site, crate::telemetry::guard_span(site))
}

/// `safe_go!` and `#[safe_task]` on an async fn. Always inlined (with the spawn under it) into
/// the spawning code: a call here costs as much as the guard itself.
#[inline(always)]
pub fn spawn<F>(site: &'static Site, future: F) -> TaskHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::task::spawn_site(site, future)
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
    crate::task::spawn_once(site, Placement { parent, group }, body)
}

/// `#[safe_task]` on a sync fn with a `ctx` argument and/or `group = ..`, without `restart(..)`.
#[inline]
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
    crate::task::spawn_blocking_once(site, Placement { parent, group }, body)
}

/// `safe_go!` / `#[safe_task]` on an async fn with `restart(..)`: `factory(ctx)` is called once
/// per attempt (the expansion clones the fn's arguments inside it), `restart` is a `static` built
/// with [`RestartPolicy::from_millis`].
#[inline]
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
    crate::task::spawn_supervised(site, *restart, Placement { parent, group }, factory)
}

/// `#[safe_task]` on a sync fn with `restart(..)`: `body(ctx)` runs on the blocking pool once per
/// attempt.
#[inline]
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
    crate::task::spawn_blocking_supervised(site, *restart, Placement { parent, group }, body)
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

/// `#[safe_task(restart(..))]`: an argument as each attempt receives it, a clone of the one the
/// function was called with. The bound is [`RestartArg`] (every `Clone` type) so that a
/// non-`Clone` argument gets an error that says why it must be `Clone`.
#[inline]
pub fn clone_arg<T: RestartArg>(arg: &T) -> T {
    arg.clone_for_attempt()
}

/// A `Clone` argument of a supervised `#[safe_task]`: only exists for its error message.
#[diagnostic::on_unimplemented(
    message = "`{Self}` must be `Clone` to restart the task: each attempt gets its own clone of the arguments",
    label = "cloned for each attempt, but `{Self}` is not `Clone`",
    note = "implement or derive `Clone` for it, share it as `Arc<..>`, or remove `restart(..)`"
)]
pub trait RestartArg: Sized {
    /// `Clone::clone`.
    fn clone_for_attempt(&self) -> Self;
}

impl<T: Clone> RestartArg for T {
    #[inline]
    fn clone_for_attempt(&self) -> Self {
        self.clone()
    }
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
