//! [`GuardedFuture`], and [`TaskFuture`] for plain spawns: futures whose every poll runs inside a
//! guard and the future's span.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Span;

use crate::guard::catch;
use crate::panic::Panicked;
use crate::site::{AsSite, Site};

pin_project_lite::pin_project! {
    /// A future that catches panics raised while it is polled.
    ///
    /// Resolves to `Ok(output)`, or to `Err(Panicked)` once a panic was recovered and reported.
    /// Made by [`guard_future`](crate::guard_future), `#[recover]` on async fns and every spawn.
    #[must_use = "futures do nothing unless polled"]
    pub struct GuardedFuture<F, S = Site> {
        #[pin]
        inner: F,
        site: S,
        span: Span,
    }
}

impl<F, S: AsSite> GuardedFuture<F, S> {
    #[inline]
    pub(crate) fn new(inner: F, site: S, span: Span) -> Self {
        GuardedFuture { inner, site, span }
    }

    /// The site (component, name, policy) this future is guarded under.
    pub fn site(&self) -> &Site {
        self.site.site()
    }
}

impl<F: Future, S: AsSite> Future for GuardedFuture<F, S> {
    type Output = Result<F::Output, Panicked>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // The span is always there (`Span::none()` when disabled): entered directly, without
        // the `Option` of `poll_guarded_in`, which cost a few instructions per poll.
        let _entered = this.span.enter();
        poll_guarded(this.inner, this.site.site(), cx)
    }
}

/// One poll of `inner` inside `span` (when there is one) and a guard for `site`.
#[inline]
fn poll_guarded_in<F: Future>(
    inner: Pin<&mut F>,
    site: &Site,
    span: Option<&Span>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Panicked>> {
    let _entered = span.map(Span::enter);
    poll_guarded(inner, site, cx)
}

/// One poll of `inner` in a guard for `site`.
#[inline]
fn poll_guarded<F: Future>(
    inner: Pin<&mut F>,
    site: &Site,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Panicked>> {
    match catch(site, || inner.poll(cx)) {
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panicked) => Poll::Ready(Err(panicked)),
    }
}

/// Where a [`TaskFuture`] keeps its span: `Span` for a task a subscriber records, `()` for one
/// none does.
pub(crate) trait SpanSlot: Send + Sync + Unpin + 'static {
    fn span(&self) -> Option<&Span>;
}

impl SpanSlot for Span {
    #[inline]
    fn span(&self) -> Option<&Span> {
        Some(self)
    }
}

impl SpanSlot for () {
    #[inline]
    fn span(&self) -> Option<&Span> {
        None
    }
}

pin_project_lite::pin_project! {
    /// What a plain spawn hands to tokio: the task's future, guarded as by [`GuardedFuture`].
    ///
    /// A task's span is known at the spawn, so the spawn picks the type: with a subscriber
    /// recording the span it is carried inline (`P = Span`: no allocation), without one the task
    /// carries nothing for it (`P = ()`). Both give the same `JoinHandle`. Every byte counts
    /// here: tokio rounds a task's cell up to a multiple of 128 bytes, and a trivial task has 16
    /// bytes of slack, which the site's pointer fits in and a 40-byte `Span` does not.
    pub(crate) struct TaskFuture<F, S, P> {
        #[pin]
        inner: F,
        site: S,
        span: P,
    }
}

impl<F, S, P> TaskFuture<F, S, P> {
    #[inline]
    pub(crate) fn new(inner: F, site: S, span: P) -> Self {
        TaskFuture { inner, site, span }
    }
}

impl<F: Future, S: AsSite, P: SpanSlot> Future for TaskFuture<F, S, P> {
    type Output = Result<F::Output, Panicked>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        poll_guarded_in(this.inner, this.site.site(), this.span.span(), cx)
    }
}
