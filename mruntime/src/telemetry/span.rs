//! The spans guarded calls and tasks run in.
//!
//! Each constructor is split in two: an inlined check of the global max level (one relaxed
//! atomic load: the whole cost of a span when no subscriber wants INFO, as in a service that
//! traces nothing, or whose subscriber filters INFO out), and an out-of-line `info_span!` that
//! does tracing's own complete check (interest, per-callsite filters) and builds the span. That
//! keeps `#[recover]` on a hot sync fn within a few nanoseconds of the plain fn.

use std::mem::ManuallyDrop;

use tracing::span::EnteredSpan;
use tracing::{Level, Span};

use crate::site::Site;

/// The span of a guarded call (`#[recover]`, [`guard`](crate::guard)): a child of the current span.
#[inline(always)]
pub(crate) fn guard_span(site: &Site) -> Span {
    if tracing::level_enabled!(Level::INFO) {
        new_guard_span(site)
    } else {
        Span::none()
    }
}

/// [`guard_span`], written over `slot` (a `Span::none()`, which needs no drop) only when a
/// subscriber may want it: a future that keeps its span in place pays one load when none does.
#[inline(always)]
pub(crate) fn make_guard_span(slot: &mut ManuallyDrop<Span>, site: &Site) {
    if tracing::level_enabled!(Level::INFO) {
        *slot = ManuallyDrop::new(new_guard_span(site));
    }
}

/// The span of a sync guarded call, entered until this is dropped (as [`guard_span`] then
/// `Span::enter`). A recorded span is created and entered in one call and exited and closed in
/// another, both out of line: the guarded fn they are inlined into keeps fewer calls that can
/// unwind, so fewer unwind-table entries for the personality routine to read past on a panic.
// `ManuallyDrop`: the span is taken out in `drop`, so the field needs no drop glue (a call).
pub(crate) struct GuardSpan(ManuallyDrop<Option<EnteredSpan>>);

/// [`GuardSpan`] for `site`: nothing to do (one relaxed load) when no subscriber wants INFO.
#[inline(always)]
pub(crate) fn enter_guard_span(site: &Site) -> GuardSpan {
    if tracing::level_enabled!(Level::INFO) {
        GuardSpan(ManuallyDrop::new(Some(enter_new_guard_span(site))))
    } else {
        GuardSpan(ManuallyDrop::new(None))
    }
}

#[inline(never)]
fn enter_new_guard_span(site: &Site) -> EnteredSpan {
    new_guard_span(site).entered()
}

impl Drop for GuardSpan {
    #[inline]
    fn drop(&mut self) {
        if let Some(span) = self.0.take() {
            exit_guard_span(span);
        }
    }
}

#[inline(never)]
fn exit_guard_span(span: EnteredSpan) {
    drop(span);
}

#[inline(never)]
fn new_guard_span(site: &Site) -> Span {
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
#[inline(always)]
pub(crate) fn task_span(site: &Site) -> Span {
    if tracing::level_enabled!(Level::INFO) {
        new_task_span(site)
    } else {
        Span::none()
    }
}

/// Whether a task's span can be recorded at all: the inlined half of [`task_span`].
#[inline(always)]
pub(crate) fn task_span_wanted() -> bool {
    tracing::level_enabled!(Level::INFO)
}

/// The out-of-line half of [`task_span`].
#[inline(never)]
pub(crate) fn new_task_span(site: &Site) -> Span {
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
