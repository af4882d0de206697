//! [`TaskFactory`]: what a supervised task is made from, once per attempt.

use std::future::Future;

use crate::policy::RestartPolicy;
use crate::site::Site;
use crate::task::{Placement, TaskContext, TaskGroup, TaskHandle};

/// What a supervised task (`restart(..)`) is made from: a closure that makes a new future for
/// each attempt, `|ctx: TaskContext| async move { .. }` (`FnMut`, `Send`, `'static`).
///
/// Implemented for every such closure and function: you never implement it. It exists so that a
/// future given where each attempt needs a new one is an error that says so, at your tokens.
///
/// ```
/// use mruntime::{TaskContext, TaskFactory};
///
/// fn takes_a_factory(_: impl TaskFactory) {}
///
/// async fn worker(ctx: TaskContext) -> u32 {
///     ctx.attempt()
/// }
///
/// takes_a_factory(worker);
/// takes_a_factory(|ctx: TaskContext| async move { ctx.attempt() });
/// ```
#[diagnostic::on_unimplemented(
    message = "`restart(..)` needs a closure that makes a new future for each attempt, not `{Self}`",
    label = "a future runs once: write `|ctx| async move {{ .. }}` to make one per attempt",
    note = "the closure is `FnMut(mruntime::TaskContext) -> impl Future`, `Send + 'static`, called once per attempt: clone inside it what each attempt takes"
)]
pub trait TaskFactory: Send + 'static {
    /// What the task returns.
    type Output: Send + 'static;
    /// The future of one attempt.
    type Future: Future<Output = Self::Output> + Send + 'static;

    /// Makes the future of one attempt.
    fn make(&mut self, ctx: TaskContext) -> Self::Future;

    /// `safe_go!(.., restart(..), factory)`: the bound is the trait itself, so a wrong argument
    /// is one error in the words above.
    #[doc(hidden)]
    #[track_caller]
    fn __spawn_supervised(
        mut self,
        site: &'static Site,
        restart: &'static RestartPolicy,
        parent: Option<&TaskContext>,
        group: Option<&TaskGroup>,
    ) -> TaskHandle<Self::Output>
    where
        Self: Sized,
    {
        crate::task::spawn_supervised(
            site,
            *restart,
            Placement::new(parent, group, false),
            move |ctx| self.make(ctx),
        )
    }
}

impl<F, Fut> TaskFactory for F
where
    F: FnMut(TaskContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    type Output = Fut::Output;
    type Future = Fut;

    #[inline]
    fn make(&mut self, ctx: TaskContext) -> Fut {
        self(ctx)
    }
}
