//! [`Task`]: the function API for tasks that receive a [`TaskContext`], may be supervised and
//! may belong to a [`TaskGroup`].

use std::future::Future;

use crate::policy::PanicPolicy;
use crate::policy::RestartPolicy;
use crate::site::Site;
use crate::task::launch::{self, Placement};
use crate::task::{TaskContext, TaskGroup, TaskHandle};

/// A guarded task to spawn, configured step by step: Go's `SafeGoWithContextAndComponent`, with
/// a restart policy, a parent context and a group on top. What `safe_go!` and `#[safe_task]`
/// with `restart(...)`, `group = ...` or a `ctx` argument expand to.
///
/// The body is a closure that receives the task's [`TaskContext`]. Without a restart policy it
/// runs once (an `FnOnce`); with [`restart`](Task::restart) it is an `FnMut` called once per
/// attempt, so that every attempt starts from a fresh future (clone what it needs inside).
///
/// The task's span is created at the spawn, as a child of the current span; under a restart
/// policy each attempt runs in its own span (field `attempt`) under it. For a plain task that
/// needs no context, [`spawn`](crate::spawn) is the cheapest path.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use mruntime::{PanicPolicy, RestartPolicy, Task, TaskError, TaskGroup};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let group = TaskGroup::new();
/// let runs = Arc::new(AtomicU32::new(0));
///
/// // restart(max = 2, within = "60s", backoff = "100ms..1s")
/// let handle = Task::new("delivery", "processor")
///     .policy(PanicPolicy::KeepRunning)
///     .restart(RestartPolicy::from_millis(2, 60_000, 100, 1_000))
///     .group(&group)
///     .spawn({
///         let runs = runs.clone();
///         move |ctx| {
///             let runs = runs.clone();
///             async move {
///                 runs.fetch_add(1, Ordering::SeqCst);
///                 panic!("attempt {} failed", ctx.attempt());
///             }
///         }
///     });
///
/// // Three runs (two restarts), then it gives up: KeepRunning ends it with the last panic.
/// let Err(TaskError::Panicked(last)) = handle.await else { unreachable!() };
/// assert_eq!(last.attempt(), 3);
/// assert_eq!(last.message(), "attempt 3 failed");
/// assert_eq!(runs.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a Task does nothing until it is spawned"]
pub struct Task<R = NoRestart> {
    site: Site,
    restart: R,
    group: Option<TaskGroup>,
    parent: Option<TaskContext>,
    health: bool,
}

/// The state of a [`Task`] builder without a restart policy: its body runs once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoRestart;

impl Task {
    /// A task named `component`/`name`, under [`PanicPolicy::KeepRunning`], not supervised, in
    /// no group, with no parent context.
    pub fn new(component: &'static str, name: &'static str) -> Self {
        Task {
            site: Site::new(component, name, PanicPolicy::KeepRunning),
            restart: NoRestart,
            group: None,
            parent: None,
            health: false,
        }
    }

    /// Supervises the task: after a panic it is started again as `restart` says, and its
    /// [`PanicPolicy`] applies only once it gives up. See [`RestartPolicy`].
    pub fn restart(self, restart: RestartPolicy) -> Task<RestartPolicy> {
        Task {
            site: self.site,
            restart,
            group: self.group,
            parent: self.parent,
            health: self.health,
        }
    }

    /// Makes the task a health component (see [`health`](crate::health)): `Serving` while it
    /// runs, `Failed` once it ends by a panic (so the process is no longer ready), `Stopped`
    /// when it returns or is cancelled. For a long-running task without a restart policy, whose
    /// death would otherwise go unnoticed; a task with [`restart`](Task::restart) is a
    /// component anyway.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let consumer = mruntime::Task::new("ingest", "kafka-loop")
    ///     .health()
    ///     .spawn(|_ctx| async { panic!("poison message") });
    /// assert!(consumer.await.is_err());
    /// assert!(!mruntime::health::report().is_ready());
    /// # }
    /// ```
    pub fn health(mut self) -> Self {
        self.health = true;
        self
    }

    /// Spawns the task: `body(ctx)` is called and awaited on the runtime, guarded.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime: the panic points at the line of the call and says to
    /// call it from inside a runtime (under `#[tokio::main]`, in `Runtime::block_on`, ...).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let handle = mruntime::Task::new("notification", "email-sender")
    ///     .spawn(|ctx| async move { format!("{}/{}", ctx.component(), ctx.name()) });
    /// assert_eq!(handle.await.unwrap(), "notification/email-sender");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F, Fut>(self, body: F) -> TaskHandle<Fut::Output>
    where
        F: FnOnce(TaskContext) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        launch::spawn_once(self.site, self.placement(), body)
    }

    /// Runs the blocking `body(ctx)` on tokio's blocking pool, guarded. A blocking task cannot
    /// be aborted once started: check `ctx.is_cancelled()` in its loops.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime: the panic points at the line of the call and says to
    /// call it from inside a runtime (under `#[tokio::main]`, in `Runtime::block_on`, ...).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let handle = mruntime::Task::new("reports", "render-pdf")
    ///     .spawn_blocking(|ctx| if ctx.is_cancelled() { 0 } else { 8 });
    /// assert_eq!(handle.await.unwrap(), 8);
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T>(self, body: F) -> TaskHandle<T>
    where
        F: FnOnce(TaskContext) -> T + Send + 'static,
        T: Send + 'static,
    {
        launch::spawn_blocking_once(self.site, self.placement(), body)
    }
}

impl Task<RestartPolicy> {
    /// Spawns the supervised task: `factory(ctx)` is called and awaited once per attempt.
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime: the panic points at the line of the call and says to
    /// call it from inside a runtime (under `#[tokio::main]`, in `Runtime::block_on`, ...). The
    /// runtime needs its time driver (`enable_time`) for the backoffs.
    ///
    /// ```
    /// use mruntime::{RestartPolicy, Task};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let handle = Task::new("transaction", "balance-sync")
    ///     .restart(RestartPolicy::from_millis(5, 60_000, 100, 10_000))
    ///     .spawn(|ctx| async move {
    ///         if ctx.attempt() < 3 {
    ///             panic!("database unavailable");
    ///         }
    ///         ctx.attempt()
    ///     });
    /// assert_eq!(handle.await.unwrap(), 3); // ran three times, the third returned
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F, Fut>(self, factory: F) -> TaskHandle<Fut::Output>
    where
        F: FnMut(TaskContext) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        launch::spawn_supervised(self.site, self.restart, self.placement(), factory)
    }

    /// Runs the supervised blocking `body(ctx)` on tokio's blocking pool, once per attempt (the
    /// backoffs sleep on the runtime, not on a blocking thread).
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime: the panic points at the line of the call and says to
    /// call it from inside a runtime (under `#[tokio::main]`, in `Runtime::block_on`, ...). The
    /// runtime needs its time driver for the backoffs.
    ///
    /// ```
    /// use mruntime::{RestartPolicy, Task};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let handle = Task::new("reports", "render-pdf")
    ///     .restart(RestartPolicy::from_millis(1, 60_000, 10, 10))
    ///     .spawn_blocking(|ctx| if ctx.attempt() == 1 { panic!("font missing") } else { "pdf" });
    /// assert_eq!(handle.await.unwrap(), "pdf");
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T>(self, body: F) -> TaskHandle<T>
    where
        F: FnMut(TaskContext) -> T + Send + 'static,
        T: Send + 'static,
    {
        launch::spawn_blocking_supervised(self.site, self.restart, self.placement(), body)
    }
}

impl<R> Task<R> {
    /// The policy applied after a recovered panic (after giving up, for a supervised task).
    /// Default [`PanicPolicy::KeepRunning`].
    pub fn policy(mut self, policy: PanicPolicy) -> Self {
        self.site = Site::new(self.site.component(), self.site.name(), policy);
        self
    }

    /// Spawns the task into `group`: its shutdown cancels the task, waits for it and names it
    /// if it does not stop in time or ended by panic.
    pub fn group(mut self, group: &TaskGroup) -> Self {
        self.group = Some(group.clone());
        self
    }

    /// Derives the task's context from `parent`: cancelling `parent` cancels the task.
    pub fn context(mut self, parent: &TaskContext) -> Self {
        self.parent = Some(parent.clone());
        self
    }

    /// The task's site (component, name, policy).
    pub fn site(&self) -> &Site {
        &self.site
    }

    fn placement(&self) -> Placement<'_> {
        Placement {
            parent: self.parent.as_ref(),
            group: self.group.as_ref(),
            health: self.health,
        }
    }
}
