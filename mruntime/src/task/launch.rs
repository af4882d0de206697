//! Assembling a task that receives a [`TaskContext`] (maybe in a group, maybe supervised) and
//! spawning it: what [`Task`](crate::Task) and the macros' `__private` functions share.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::guard::{DropGuarded, GuardedFuture, Recovery, TaskOutput, catch};
use crate::health::registry::{TaskEnd, TaskHealth};
use crate::panic::Panicked;
use crate::policy::RestartPolicy;
use crate::site::{AsSite, Site};
use crate::task::group::Membership;
use crate::task::spawn::{spawn_blocking_prepared, spawn_prepared};
use crate::task::supervise::{supervise, supervise_blocking};
use crate::task::{TaskContext, TaskGroup, TaskHandle};
use crate::telemetry::{self, TaskLifecycle};

/// Where a task is started: its parent context and its group, both optional, and whether a
/// task run once is a health component (a supervised one always is).
#[derive(Clone, Copy, Default)]
pub(crate) struct Placement<'a> {
    pub(crate) parent: Option<&'a TaskContext>,
    pub(crate) group: Option<&'a TaskGroup>,
    pub(crate) health: bool,
}

impl<'a> Placement<'a> {
    /// Under `parent` (if any), in `group` (if any); a health component if `health`.
    #[inline]
    pub(crate) fn new(
        parent: Option<&'a TaskContext>,
        group: Option<&'a TaskGroup>,
        health: bool,
    ) -> Self {
        Placement {
            parent,
            group,
            health,
        }
    }

    /// The task's own context (a child of its parent's token, else of its group's, else a new
    /// token) and its membership of the group.
    fn enter(self, site: &Site) -> (TaskContext, Option<Membership>) {
        let token = match (self.parent, self.group) {
            (Some(parent), _) => parent.token().child_token(),
            (None, Some(group)) => group.child_token(),
            (None, None) => CancellationToken::new(),
        };
        let membership = self.group.map(|group| group.join(site, token.clone()));
        (TaskContext::for_task(token, site), membership)
    }

    /// Spawns `body` (which guards itself) with the group's bookkeeping around it.
    #[track_caller]
    fn spawn<T, B>(self, site: Site, membership: Option<Membership>, body: B) -> TaskHandle<T>
    where
        T: Send + 'static,
        B: Future<Output = Result<T, Panicked>> + Send + 'static,
    {
        let id = membership.as_ref().map(Membership::id);
        let lifecycle = telemetry::task_metrics_enabled().then(|| TaskLifecycle::start(&site));
        let meta = crate::site::interned(&site);
        let join = spawn_prepared(async move {
            let result = body.await;
            if let Some(membership) = &membership {
                membership.finished(&result);
            }
            if let Some(lifecycle) = lifecycle {
                lifecycle.finish(result.is_err());
            }
            result.map(|value| TaskOutput::new(value, meta))
        });
        if let (Some(group), Some(id)) = (self.group, id) {
            group.set_abort_handle(id, join.abort_handle());
        }
        TaskHandle::new(join, meta)
    }
}

/// A task run once: `f(ctx)` is called and awaited inside the task's guard and span.
#[track_caller]
pub(crate) fn spawn_once<S, F, Fut>(
    site: S,
    placement: Placement<'_>,
    f: F,
) -> TaskHandle<Fut::Output>
where
    S: AsSite,
    F: FnOnce(TaskContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let meta = *site.site();
    let span = telemetry::task_span(&meta);
    let (ctx, membership) = placement.enter(&meta);
    if placement.health {
        let health = TaskHealth::start(&meta);
        let cancelled = ctx.clone();
        let body = GuardedFuture::new(async move { f(ctx).await }, site, span);
        let body = async move {
            let result = body.await;
            health.ended(end_of(&result, &cancelled));
            result
        };
        return placement.spawn(meta, membership, body);
    }
    let body = GuardedFuture::new(async move { f(ctx).await }, site, span);
    placement.spawn(meta, membership, body)
}

/// How a task run once as a health component ended: `Failed` by a panic, unless it was
/// cancelled (a shutdown never fails a component).
fn end_of<'a, T>(result: &'a Result<T, Panicked>, ctx: &TaskContext) -> TaskEnd<'a> {
    match result {
        Err(panicked) if !ctx.is_cancelled() => TaskEnd::Failed(panicked.message()),
        _ => TaskEnd::Stopped,
    }
}

/// A supervised task: `factory(ctx)` is called and awaited once per attempt.
#[track_caller]
pub(crate) fn spawn_supervised<S, F, Fut>(
    site: S,
    restart: RestartPolicy,
    placement: Placement<'_>,
    factory: F,
) -> TaskHandle<Fut::Output>
where
    S: AsSite,
    F: FnMut(TaskContext) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let meta = *site.site();
    let span = telemetry::task_span(&meta);
    let (ctx, membership) = placement.enter(&meta);
    let health = TaskHealth::start(&meta);
    // Boxed: the supervisor's future is large, and tokio moves a task's future several times
    // (measured: ~2,400 instructions of memcpy per task, against one allocation).
    let body = Box::pin(supervise(site, restart, ctx, factory, health).instrument(span));
    placement.spawn(meta, membership, body)
}

/// A blocking task run once on tokio's blocking pool.
#[track_caller]
pub(crate) fn spawn_blocking_once<S, F, T>(site: S, placement: Placement<'_>, f: F) -> TaskHandle<T>
where
    S: AsSite,
    F: FnOnce(TaskContext) -> T + Send + 'static,
    T: Send + 'static,
{
    let meta = site.static_site();
    let span = telemetry::task_span(meta);
    let (ctx, membership) = placement.enter(meta);
    let id = membership.as_ref().map(Membership::id);
    let lifecycle = telemetry::task_metrics_enabled().then(|| TaskLifecycle::start(meta));
    let health = placement.health.then(|| TaskHealth::start(meta));
    // A job the runtime drops before it starts drops `f` in its guard.
    let f = DropGuarded::new(meta, Recovery::Guard, f);
    let join = spawn_blocking_prepared(move || {
        let cancelled = health.as_ref().map(|_| ctx.clone());
        let result = span.in_scope(|| catch(site.site(), || f.into_inner()(ctx)));
        if let (Some(health), Some(ctx)) = (health, &cancelled) {
            health.ended(end_of(&result, ctx));
        }
        if let Some(membership) = &membership {
            membership.finished(&result);
        }
        if let Some(lifecycle) = lifecycle {
            lifecycle.finish(result.is_err());
        }
        result.map(|value| TaskOutput::new(value, meta))
    });
    if let (Some(group), Some(id)) = (placement.group, id) {
        group.set_abort_handle(id, join.abort_handle());
    }
    TaskHandle::new(join, meta)
}

/// A supervised blocking task: each attempt runs `body(ctx)` on tokio's blocking pool.
#[track_caller]
pub(crate) fn spawn_blocking_supervised<S, F, T>(
    site: S,
    restart: RestartPolicy,
    placement: Placement<'_>,
    body: F,
) -> TaskHandle<T>
where
    S: AsSite + Copy,
    F: FnMut(TaskContext) -> T + Send + 'static,
    T: Send + 'static,
{
    let meta = *site.site();
    let span = telemetry::task_span(&meta);
    let (ctx, membership) = placement.enter(&meta);
    let health = TaskHealth::start(&meta);
    let body = Box::pin(supervise_blocking(site, restart, ctx, body, health).instrument(span));
    placement.spawn(meta, membership, body)
}
