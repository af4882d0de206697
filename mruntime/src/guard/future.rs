//! [`GuardedFuture`]: a future whose every poll runs inside a guard and a span.

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
        let _entered = this.span.enter();
        let inner = this.inner;
        match catch(this.site.site(), || inner.poll(cx)) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panicked) => Poll::Ready(Err(panicked)),
        }
    }
}
