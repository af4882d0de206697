//! [`GuardedFuture`]: a future whose every poll runs inside a guard and a span.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Span;

use crate::guard::catch;
use crate::panic::Panicked;
use crate::site::{AsSite, Site};
use crate::telemetry::CarriedSpan;

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
        // Boxed, and only when a subscriber records the span: a `Span` is 40 bytes, and every
        // byte a guarded future adds is carried by its task's cell (tokio rounds cells up to
        // 128-byte multiples) or its parent future. So with no subscriber interested the
        // future grows by two words (site and this), and a recorded span costs one small
        // allocation next to the subscriber's own.
        span: CarriedSpan,
    }
}

impl<F, S: AsSite> GuardedFuture<F, S> {
    #[inline]
    pub(crate) fn new(inner: F, site: S, span: CarriedSpan) -> Self {
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
        let _entered = this.span.as_deref().map(Span::enter);
        let inner = this.inner;
        match catch(this.site.site(), || inner.poll(cx)) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panicked) => Poll::Ready(Err(panicked)),
        }
    }
}
