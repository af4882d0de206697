//! The spawner's Sentry hub carried into the tasks mruntime spawns, as the span parent is: a
//! panic in a task started inside a request is reported with the request's tags and
//! breadcrumbs (what `SentryFutureExt::bind_hub` does by hand).
//!
//! The task gets `Hub::new_from_top(spawner's hub)`: the spawner's client and a copy of its
//! scope, so the task's own scope changes do not leak back. Nothing is carried until a
//! [`SentryReporter`](super::SentryReporter) exists (one relaxed load per spawn), nor when the
//! spawner's hub has no enabled client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use sentry_core::Hub;

/// Whether a `SentryReporter` was made: only then are hubs carried.
static CARRY: AtomicBool = AtomicBool::new(false);

/// From now on, spawns carry the spawner's hub.
pub(crate) fn enable() {
    CARRY.store(true, Ordering::Relaxed);
}

/// The hub a task spawned here should run with, if any.
#[inline]
pub(crate) fn to_carry() -> Option<Arc<Hub>> {
    if !CARRY.load(Ordering::Relaxed) {
        return None;
    }
    Hub::with_active(|hub| Some(Arc::new(Hub::new_from_top(hub))))
}

pin_project_lite::pin_project! {
    /// A task's future, polled with its hub current (each poll, as `SentryFuture` does). Only
    /// a task that carries a hub is wrapped: the others are spawned as without the feature.
    pub(crate) struct WithHub<F> {
        hub: Arc<Hub>,
        #[pin]
        future: F,
    }
}

impl<F> WithHub<F> {
    pub(crate) fn new(hub: Arc<Hub>, future: F) -> Self {
        WithHub { hub, future }
    }
}

impl<F: Future> Future for WithHub<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        Hub::run(this.hub.clone(), || this.future.poll(cx))
    }
}
