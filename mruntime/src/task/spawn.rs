//! Guarded spawns: a task's future (or blocking closure) wrapped in its guard and span, handed to
//! [`crate::spawn`], the one place that really spawns.

use std::future::Future;

use tokio::task::JoinHandle;

use crate::guard::{DropGuarded, Recovery, TaskFuture, TaskOutput, catch};
use crate::panic::Panicked;
use crate::policy::PanicPolicy;
use crate::site::{AsSite, Site};
use crate::task::TaskHandle;
use crate::telemetry;

/// Spawns `future` guarded under `site`; the task's span is created now, so its parent is the
/// span current at the spawn (a bare `tokio::spawn` loses it).
///
/// Inlined into the spawning code: out of line it cost a call and two copies of the site per
/// task (~40 instructions, as much again as the guard's polls).
#[inline(always)]
#[track_caller]
pub(crate) fn spawn_site<F, S>(site: S, future: F) -> TaskHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: AsSite,
{
    let meta = site.static_site();
    // The task carries the pointer, not a copy: its output's guard needs a `&'static Site`.
    // Without a subscriber wanting INFO no `Span` is made (nor dropped) at all.
    let join = if telemetry::task_span_wanted() {
        let span = telemetry::new_task_span(meta);
        if span.is_disabled() {
            spawn_guarded(untraced_task(meta, future), meta)
        } else {
            spawn_guarded(TaskFuture::new(future, meta, span), meta)
        }
    } else {
        spawn_guarded(untraced_task(meta, future), meta)
    };
    TaskHandle::new(join, meta)
}

/// The future of a task no subscriber records: it carries the site and no span.
#[inline]
pub(crate) fn untraced_task<F, S: AsSite>(site: S, future: F) -> TaskFuture<F, S, ()> {
    TaskFuture::new(future, site, ())
}

/// Spawns a guarded task's future, inside the opt-in lifecycle metrics when they are on.
#[inline]
#[track_caller]
fn spawn_guarded<T, G>(guarded: G, meta: &Site) -> JoinHandle<Result<TaskOutput<T>, Panicked>>
where
    T: Send + 'static,
    G: Future<Output = Result<TaskOutput<T>, Panicked>> + Send + 'static,
{
    if telemetry::task_metrics_enabled() {
        crate::spawn::task(with_lifecycle(
            telemetry::TaskLifecycle::start(meta),
            guarded,
        ))
    } else {
        crate::spawn::task(guarded)
    }
}

/// The opt-in lifecycle metrics around a task: a separate future type, so that plain spawns pay
/// nothing for them.
/// The lifecycle starts at the spawn: a task aborted before its first poll counts as started
/// and cancelled.
async fn with_lifecycle<T>(
    lifecycle: telemetry::TaskLifecycle,
    guarded: impl Future<Output = Result<T, crate::panic::Panicked>>,
) -> Result<T, crate::panic::Panicked> {
    let result = guarded.await;
    lifecycle.finish(result.is_err());
    result
}

/// Runs `f` on tokio's blocking pool guarded under `site`.
#[track_caller]
pub(crate) fn spawn_blocking_site<F, T, S>(site: S, f: F) -> TaskHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
    S: AsSite,
{
    let span = telemetry::task_span(site.site());
    let meta = site.static_site();
    let lifecycle =
        telemetry::task_metrics_enabled().then(|| telemetry::TaskLifecycle::start(meta));
    // A job the runtime drops before it starts drops `f` in its guard.
    let f = DropGuarded::new(meta, Recovery::Guard, f);
    let join = crate::spawn::blocking(move || {
        let _entered = span.enter();
        let result = catch(site.site(), || f.into_inner()());
        if let Some(lifecycle) = lifecycle {
            lifecycle.finish(result.is_err());
        }
        result.map(|value| TaskOutput::new(value, meta))
    });
    TaskHandle::new(join, meta)
}

/// Spawns a future that guards itself (a supervisor, or a guarded future with its group
/// bookkeeping): for `launch` and `supervise`, which prepare it.
#[track_caller]
pub(crate) fn spawn_prepared<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    crate::spawn::task(future)
}

/// Runs a closure that guards itself on tokio's blocking pool (see [`spawn_prepared`]).
#[track_caller]
pub(crate) fn spawn_blocking_prepared<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::spawn::blocking(f)
}

/// Spawns `future` as a guarded task: the Go `mruntime.SafeGoWithContextAndComponent`, and what
/// [`safe_go!`](crate::safe_go) expands to. Use it instead of a bare `tokio::spawn`.
///
/// The task runs inside a span (`component`, `name`, `policy`, `otel.name`) whose parent is the
/// span current now, and with the feature `sentry` under the current Sentry hub (see
/// `mruntime::sentry::SentryReporter`). A panic in it is logged, counted, traced and reported
/// once; then under [`PanicPolicy::KeepRunning`] the task ends with
/// [`TaskError::Panicked`](crate::TaskError) and everything else goes on, and under
/// [`PanicPolicy::CrashProcess`] the process ends.
///
/// The returned handle points at its site instead of holding a copy (16 bytes, as cheap to keep
/// by the thousand as `safe_go!`'s): each distinct `component`, `name` and `policy` is kept once,
/// for the life of the process, the first time it is spawned under.
///
/// # Panics
///
/// When called outside a tokio runtime: the panic points at the line of the call and says to
/// call it from inside a runtime (under `#[tokio::main]`, in `Runtime::block_on`, ...).
///
/// ```
/// use mruntime::{PanicPolicy, TaskError};
///
/// # #[tokio::main] async fn main() {
/// let ok = mruntime::spawn("notification", "email-sender", PanicPolicy::KeepRunning, async { 7 });
/// assert_eq!(ok.await.unwrap(), 7);
///
/// let failed = mruntime::spawn("notification", "email-sender", PanicPolicy::KeepRunning, async {
///     panic!("smtp down")
/// });
/// assert!(matches!(failed.await, Err(TaskError::Panicked(p)) if p.message() == "smtp down"));
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(
    component: &'static str,
    name: &'static str,
    policy: PanicPolicy,
    future: F,
) -> TaskHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_site(Site::new(component, name, policy), future)
}

/// Runs the blocking closure `f` on tokio's blocking pool as a guarded task (use it instead of
/// `tokio::task::spawn_blocking` or `std::thread::spawn`). Same reporting and policy as
/// [`spawn`].
///
/// # Panics
///
/// When called outside a tokio runtime: the panic points at the line of the call and says to
/// call it from inside a runtime (under `#[tokio::main]`, in `Runtime::block_on`, ...).
///
/// ```
/// use mruntime::PanicPolicy;
///
/// # #[tokio::main] async fn main() {
/// let handle = mruntime::spawn_blocking("reports", "render-pdf", PanicPolicy::KeepRunning, || {
///     "rendered".len()
/// });
/// assert_eq!(handle.await.unwrap(), 8);
/// # }
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(
    component: &'static str,
    name: &'static str,
    policy: PanicPolicy,
    f: F,
) -> TaskHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_blocking_site(Site::new(component, name, policy), f)
}
