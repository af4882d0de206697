//! The spans guarded calls and tasks run in.

use tracing::Span;

use crate::site::Site;

/// The span of a guarded call (`#[recover]`, [`guard`](crate::guard)): a child of the current span.
#[inline]
pub(crate) fn guard_span(site: &Site) -> Span {
    tracing::info_span!(
        target: "mruntime",
        "mruntime.guard",
        component = site.component(),
        name = site.name(),
        policy = site.policy().as_str(),
        otel.name = site.name(),
    )
}

/// The span of a guarded task, created at the spawn so that its parent is the spawner's span.
#[inline]
pub(crate) fn task_span(site: &Site) -> Span {
    tracing::info_span!(
        target: "mruntime",
        "mruntime.task",
        component = site.component(),
        name = site.name(),
        policy = site.policy().as_str(),
        otel.name = site.name(),
    )
}

/// The span of one attempt of a supervised task: a child of the task's span (current while the
/// supervisor runs), with the attempt number (1 for the first run).
#[inline]
pub(crate) fn attempt_span(site: &Site, attempt: u32) -> Span {
    tracing::info_span!(
        target: "mruntime",
        "mruntime.attempt",
        component = site.component(),
        name = site.name(),
        attempt = attempt,
        otel.name = site.name(),
    )
}
