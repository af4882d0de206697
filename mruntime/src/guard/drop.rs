//! Dropping a guarded future inside its guard: a panic in the `Drop` of a value the future
//! holds (a task aborted at an `.await`, a request future dropped by its server) is recovered
//! and reported like a panic while polling.

use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::guard::{Recovery, catch_as};
use crate::site::Site;

/// Drops a guarded future's inner future inside its guard, so that a panic in the `Drop` of a
/// value it holds (a task aborted at an `.await`, a request future dropped by its server) is
/// recovered, reported once and its policy applied, like a panic while polling.
///
/// # Safety
///
/// `inner` is dropped here: it must not be used (nor dropped) again.
#[inline]
pub(crate) unsafe fn drop_guarded<F>(site: &Site, recovery: Recovery, inner: &mut ManuallyDrop<F>) {
    if !mem::needs_drop::<F>() {
        return;
    }
    // SAFETY: the caller hands over `inner` to be dropped once, here.
    let _ = catch_as(site, recovery, || unsafe { ManuallyDrop::drop(inner) });
}

pin_project_lite::pin_project! {
    /// A future whose drop runs inside a guard (the attempts of a supervised task, which are
    /// polled by hand).
    pub(crate) struct DropGuarded<'a, F> {
        #[pin]
        inner: ManuallyDrop<F>,
        site: &'a Site,
        recovery: Recovery,
    }

    impl<'a, F> PinnedDrop for DropGuarded<'a, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // SAFETY: the inner future is dropped here, once, and never used again.
            unsafe { drop_guarded(this.site, *this.recovery, this.inner.get_unchecked_mut()) };
        }
    }
}

impl<'a, F> DropGuarded<'a, F> {
    pub(crate) fn new(site: &'a Site, recovery: Recovery, inner: F) -> Self {
        DropGuarded {
            inner: ManuallyDrop::new(inner),
            site,
            recovery,
        }
    }
}

impl<F: Future> Future for DropGuarded<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `ManuallyDrop<F>` is `repr(transparent)`, and the future is never moved out.
        unsafe { self.project().inner.map_unchecked_mut(|f| &mut **f) }.poll(cx)
    }
}
