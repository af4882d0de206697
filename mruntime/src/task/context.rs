//! [`TaskContext`]: what a task receives instead of Go's `ctx`.

use std::fmt;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::site::Site;

/// What a task receives instead of Go's `context.Context`: a cancellation token, the task's
/// component and name, and which attempt this is.
///
/// # Roots and derived contexts
///
/// You make a **root** context ([`TaskContext::new`], [`TaskContext::from_token`],
/// [`TaskGroup::context`](crate::TaskGroup::context)) and pass it as the *parent* of a task
/// ([`Task::context`](crate::Task::context), or the `ctx` argument of a `#[safe_task]` fn). The
/// task's body receives a **derived** context: a child of the parent's token (cancelling the
/// parent cancels the task, cancelling the task's token does not cancel the parent) with the
/// task's own component, name and attempt. A task started without a parent gets a fresh token,
/// and in a [`TaskGroup`](crate::TaskGroup) one that the group's shutdown cancels.
///
/// The tracing context travels separately: the task's span is a child of the span current when
/// the task was spawned.
///
/// Cloning is cheap (the token is shared: cancelling a clone cancels the original).
///
/// ```
/// use mruntime::{PanicPolicy, Task, TaskContext};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let root = TaskContext::new();
/// let worker = Task::new("delivery", "processor")
///     .context(&root)
///     .spawn(|ctx: TaskContext| async move {
///         assert_eq!((ctx.component(), ctx.name(), ctx.attempt()), ("delivery", "processor", 1));
///         ctx.cancelled().await; // the loop of a real worker
///         "stopped"
///     });
///
/// root.token().cancel(); // Go's cancel()
/// assert_eq!(worker.await.unwrap(), "stopped");
/// # }
/// ```
#[derive(Clone)]
pub struct TaskContext {
    token: CancellationToken,
    site: Option<Site>,
    attempt: u32,
}

impl TaskContext {
    /// A root context with a new token, not cancelled until you cancel it
    /// (`ctx.token().cancel()`): Go's `context.WithCancel(context.Background())`.
    ///
    /// ```
    /// let root = mruntime::TaskContext::new();
    /// assert!(!root.is_cancelled());
    /// assert_eq!((root.component(), root.name(), root.attempt()), ("", "", 0));
    /// ```
    pub fn new() -> Self {
        TaskContext::from_token(CancellationToken::new())
    }

    /// A root context around an existing token (your service's shutdown token, say): cancelling
    /// `token` cancels every task started under this context.
    ///
    /// ```
    /// use mruntime::{CancellationToken, TaskContext};
    /// let shutdown = CancellationToken::new();
    /// let root = TaskContext::from_token(shutdown.clone());
    /// shutdown.cancel();
    /// assert!(root.is_cancelled());
    /// ```
    pub fn from_token(token: CancellationToken) -> Self {
        TaskContext {
            token,
            site: None,
            attempt: 0,
        }
    }

    /// The context a task under `site` receives, around the token made for it (a child of its
    /// parent's or its group's token), at attempt 1.
    pub(crate) fn for_task(token: CancellationToken, site: &Site) -> Self {
        TaskContext {
            token,
            site: Some(*site),
            attempt: 1,
        }
    }

    /// The same task's context for attempt `attempt` (same token).
    pub(crate) fn for_attempt(&self, attempt: u32) -> Self {
        TaskContext {
            token: self.token.clone(),
            site: self.site,
            attempt,
        }
    }

    /// The task's component; `""` for a root context.
    pub fn component(&self) -> &'static str {
        self.site.map_or("", |s| s.component())
    }

    /// The task's name; `""` for a root context.
    pub fn name(&self) -> &'static str {
        self.site.map_or("", |s| s.name())
    }

    /// Which run of the task this is: 1 for the first run, 2 after the first restart, ...;
    /// 0 for a root context.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether the task was asked to stop (Go's `ctx.Err() != nil`).
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the task is asked to stop (Go's `<-ctx.Done()`); use it in `select!`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let ctx = mruntime::TaskContext::new();
    /// ctx.token().cancel();
    /// ctx.cancelled().await;
    /// # }
    /// ```
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// The cancellation token, to cancel it, to derive children from it, or to hand it to
    /// libraries that take one.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Default for TaskContext {
    /// [`TaskContext::new`].
    fn default() -> Self {
        TaskContext::new()
    }
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("component", &self.component())
            .field("name", &self.name())
            .field("attempt", &self.attempt)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
