//! [`GuardedFuture`], and [`TaskFuture`] for plain spawns: futures whose every poll runs inside a
//! guard and the future's span.

use std::future::Future;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::pin::Pin;
use std::task::{Context, Poll};

use tracing::Span;

use crate::guard::{Recovery, TaskOutput, UserValue, catch};
use crate::panic::Panicked;
use crate::site::{AsSite, Site};

pin_project_lite::pin_project! {
    /// A future that catches panics raised while it is polled.
    ///
    /// Resolves to `Ok(output)`, or to `Err(Panicked)` once a panic was recovered and reported.
    /// Made by [`guard_future`](crate::guard_future), `#[recover]` on async fns and every spawn.
    ///
    /// Every drop of the inner future runs inside the guard too, so a panic in its `Drop` (or
    /// in the `Drop` of a value it holds) is recovered and reported once, and the policy
    /// applies, wherever it is dropped:
    /// - when it completes: it is dropped at once, inside the guard of the poll that completed
    ///   it; its output is kept, so this future still resolves to `Ok(output)`;
    /// - after a panic while it was polled: it is dropped at once, in a guard of its own, and
    ///   this future still resolves to `Err(Panicked)` of the poll's panic;
    /// - when this future is dropped before it finished (never polled, a task aborted at an
    ///   `.await`, a request future dropped by its server): in this future's `Drop`, whoever
    ///   drops it; under [`PanicPolicy::KeepRunning`](crate::PanicPolicy) the drop returns
    ///   normally, so even code outside every guard never sees the panic.
    #[must_use = "futures do nothing unless polled"]
    pub struct GuardedFuture<F, S: AsSite = Site> {
        #[pin]
        inner: UserValue<F>,
        site: S,
        // Closed by hand in `drop`, out of line, so the drop of a future nobody traced is inlined.
        span: ManuallyDrop<Span>,
        stage: Stage,
    }

    impl<F, S: AsSite> PinnedDrop for GuardedFuture<F, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if std::mem::needs_drop::<F>() && *this.stage != Stage::Done {
                // SAFETY: the inner future is dropped here, once, and never used again.
                unsafe { drop_unfinished(this.site.site(), this.inner.get_unchecked_mut()) };
            }
            // A span with metadata and no subscriber still has a drop to run (tracing's `log`).
            if !this.span.is_none() || this.span.metadata().is_some() {
                // SAFETY: the span is taken once, here, and never used again.
                close_span(unsafe { ManuallyDrop::take(this.span) });
            }
        }
    }
}

/// Closes a guarded future's span (out of line: see `GuardedFuture::span`).
#[inline(never)]
fn close_span(span: Span) {
    drop(span);
}

/// Drops an unfinished future in its guard: out of line, so the drop of a finished one (one
/// flag read) is inlined where the future dies.
///
/// # Safety
///
/// As [`UserValue::drop_guarded`].
#[cold]
#[inline(never)]
unsafe fn drop_unfinished<F>(site: &Site, inner: &mut UserValue<F>) {
    // Reported already if it panics; the future's end is already decided.
    // SAFETY: the caller's.
    let _ = unsafe { inner.drop_guarded(site, Recovery::Guard) };
}

/// Where a [`GuardedFuture`] is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Not polled yet; its span is made at the first poll.
    SpanAtFirstPoll,
    /// Its span is made (or it had none to make).
    Running,
    /// The inner future completed, or panicked, and was dropped (in the guard of its last poll,
    /// or after its panic in a guard of its own).
    Done,
}

impl<F, S: AsSite> GuardedFuture<F, S> {
    #[inline]
    pub(crate) fn new(inner: F, site: S, span: Span) -> Self {
        GuardedFuture {
            inner: UserValue::new(inner),
            site,
            span: ManuallyDrop::new(span),
            stage: Stage::Running,
        }
    }

    /// A future whose span is made at its first poll, in place: the same span as one made now
    /// when it is made inside an async body (`#[recover]`'s), without moving the span's bytes
    /// with the future.
    #[inline]
    pub(crate) fn span_at_first_poll(inner: F, site: S) -> Self {
        GuardedFuture {
            inner: UserValue::new(inner),
            site,
            span: ManuallyDrop::new(Span::none()),
            stage: Stage::SpanAtFirstPoll,
        }
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
        let (mut slot, stage) = (this.inner, this.stage);
        match *stage {
            Stage::Running => {}
            Stage::SpanAtFirstPoll => {
                // The placeholder `Span::none()` stays when no subscriber wants the span.
                crate::telemetry::make_guard_span(this.span, this.site.site());
                *stage = Stage::Running;
            }
            // Polled after it completed: the inner future is gone (the contract allows this).
            Stage::Done => return Poll::Pending,
        }
        let _entered = this.span.enter();
        // A completed future is dropped at once, in the guard of the poll that completed it, so
        // the common drop (of a finished future) costs no guard of its own. The poll is written
        // out first: a panic in that drop does not lose the output.
        let mut polled = MaybeUninit::uninit();
        let caught = catch(this.site.site(), || {
            let poll = slot.as_mut().as_pin_mut().poll(cx);
            let ready = poll.is_ready();
            polled.write(poll);
            if ready {
                *stage = Stage::Done;
                // SAFETY: `stage` is set first: the future is never polled nor dropped again;
                // this runs inside the guard.
                unsafe { slot.as_mut().get_unchecked_mut().drop_in_guard() };
            }
        });
        match caught {
            // SAFETY: the closure ran to its end, so it wrote.
            Ok(()) => unsafe { polled.assume_init() }.map(Ok),
            // The drop at the end panicked (reported): the output was written before it.
            // SAFETY: `Done` is only set after the write.
            Err(_) if *stage == Stage::Done => unsafe { polled.assume_init() }.map(Ok),
            Err(panicked) => {
                *stage = Stage::Done;
                // SAFETY: `stage` is set: the future is never polled nor dropped again.
                unsafe { drop_unfinished(this.site.site(), slot.get_unchecked_mut()) };
                Poll::Ready(Err(panicked))
            }
        }
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
    ///
    /// As a [`GuardedFuture`], it drops the task's future inside the guard (an aborted task's
    /// `Drop` that panics is recovered and reported).
    pub(crate) struct TaskFuture<F, S: AsSite, P> {
        #[pin]
        inner: UserValue<F>,
        site: S,
        span: P,
    }

    impl<F, S: AsSite, P> PinnedDrop for TaskFuture<F, S, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Reported already if it panics; the task's end is already decided.
            // SAFETY: the inner future is dropped here, once, and never used again.
            let _ = unsafe {
                this.inner
                    .get_unchecked_mut()
                    .drop_guarded(this.site.site(), Recovery::Guard)
            };
        }
    }
}

impl<F, S: AsSite, P> TaskFuture<F, S, P> {
    #[inline]
    pub(crate) fn new(inner: F, site: S, span: P) -> Self {
        TaskFuture {
            inner: UserValue::new(inner),
            site,
            span,
        }
    }
}

impl<F: Future, S: AsSite, P: SpanSlot> Future for TaskFuture<F, S, P> {
    type Output = Result<TaskOutput<F::Output>, Panicked>;

    /// The output is handed on guarded ([`TaskOutput`]): `S` is a `&'static Site` for every
    /// spawn, so that costs no lookup.
    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let site = this.site;
        poll_guarded_in(this.inner.as_pin_mut(), site.site(), this.span.span(), cx)
            .map(|output| output.map(|value| TaskOutput::new(value, site.static_site())))
    }
}
