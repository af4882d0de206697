//! [`TaskHandle`] and [`TaskError`]: awaiting a guarded task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::{JoinError, JoinHandle};

use crate::guard::{TaskOutput, escaped};
use crate::panic::Panicked;
use crate::site::Site;

/// Why a guarded task did not produce its value.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked; the panic was recovered and reported (once) before you got it.
    Panicked(Panicked),
    /// The task was aborted ([`TaskHandle::abort`], runtime shutdown or a task group's shutdown).
    Cancelled,
}

impl TaskError {
    /// Whether the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// The recovered panic, if the task panicked.
    pub fn into_panicked(self) -> Option<Panicked> {
        match self {
            TaskError::Panicked(p) => Some(p),
            TaskError::Cancelled => None,
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked(p) => write!(f, "task failed: {p}"),
            TaskError::Cancelled => f.write_str("task was cancelled"),
        }
    }
}

impl std::error::Error for TaskError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TaskError::Panicked(p) => Some(p),
            TaskError::Cancelled => None,
        }
    }
}

impl From<Panicked> for TaskError {
    fn from(p: Panicked) -> Self {
        TaskError::Panicked(p)
    }
}

/// An owned permission to await a guarded task, returned by [`safe_go!`](crate::safe_go),
/// `#[safe_task]` functions, [`spawn`](crate::spawn), [`spawn_blocking`](crate::spawn_blocking)
/// and [`Task`](crate::Task).
///
/// Awaiting it gives `Ok(value)`, `Err(TaskError::Panicked(_))` or `Err(TaskError::Cancelled)`.
/// [`detach`](Self::detach) (or dropping it) lets the task run on unobserved; its panics are
/// still reported. So is a panic in the `Drop` of the value it returns when nobody takes that
/// value (the handle detached, or dropped after the task ended): the value is dropped in a
/// guard of the task's site. A value you took by awaiting is yours, and so is its drop.
#[must_use = "await the TaskHandle, keep it to abort the task, or call `.detach()`"]
pub struct TaskHandle<T> {
    // The output stays guarded until taken (see `TaskOutput`).
    join: JoinHandle<Result<TaskOutput<T>, Panicked>>,
    // A pointer, not a copy: handles are often kept by the thousand (see `site::interned`).
    site: &'static Site,
}

impl<T> TaskHandle<T> {
    #[inline]
    pub(crate) fn new(
        join: JoinHandle<Result<TaskOutput<T>, Panicked>>,
        site: &'static Site,
    ) -> Self {
        TaskHandle { join, site }
    }

    /// Aborts the task: it ends at its next `.await`, and awaiting this handle gives
    /// [`TaskError::Cancelled`] (unless it had already finished). A blocking task cannot be
    /// aborted once it has started.
    ///
    /// The task's future is dropped inside its guard: if a value it holds panics in its `Drop`,
    /// that panic is recovered and reported once (and its policy applies), and awaiting still
    /// gives [`TaskError::Cancelled`].
    pub fn abort(&self) {
        self.join.abort();
    }

    /// Whether the task has finished (with a value, a panic, or by cancellation).
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// The task's component.
    pub fn component(&self) -> &'static str {
        self.site.component()
    }

    /// The task's name.
    pub fn name(&self) -> &'static str {
        self.site.name()
    }

    /// Detaches the task: it keeps running to its end, and a panic in it is still reported
    /// (logged, counted, traced, sent to the reporter) by its guard. The fire-and-forget way to
    /// start a task, instead of `let _ = safe_go!(..)` (which clippy's `let_underscore_future`
    /// flags, since a `TaskHandle` is a future).
    ///
    /// ```
    /// use mruntime::safe_go;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (sent, received) = tokio::sync::oneshot::channel();
    /// safe_go!(component = "notification", name = "email-sender", async move {
    ///     let _ = sent.send("sent");
    /// })
    /// .detach();
    /// assert_eq!(received.await.unwrap(), "sent");
    /// # }
    /// ```
    pub fn detach(self) {
        drop(self.join);
    }

    fn task_error(&self, error: JoinError) -> TaskError {
        if error.is_cancelled() {
            return TaskError::Cancelled;
        }
        // The guard catches every panic of the task's own code, while it is polled and when it
        // is dropped; what reaches here escaped it (a subscriber panicking as the task's span
        // is entered, say). It has not been reported yet: report it now, once (the handle is
        // consumed when it yields).
        match error.try_into_panic() {
            Ok(payload) => TaskError::Panicked(escaped(self.site, payload)),
            Err(_) => TaskError::Cancelled,
        }
    }
}

impl<T> Future for TaskHandle<T> {
    type Output = Result<T, TaskError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.join).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Ok(output))) => Poll::Ready(Ok(output.into_inner())),
            Poll::Ready(Ok(Err(panicked))) => Poll::Ready(Err(TaskError::Panicked(panicked))),
            Poll::Ready(Err(error)) => Poll::Ready(Err(self.task_error(error))),
        }
    }
}

impl<T> fmt::Debug for TaskHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("component", &self.site.component())
            .field("name", &self.site.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}
