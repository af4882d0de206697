//! [`GuardedStream`]: a stream whose every `poll_next` runs inside a guard and the stream's span;
//! a panic becomes one final item made by [`FromPanic`], then the stream ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use tracing::Span;

use crate::guard::{FromPanic, GuardedFuture, Recovery, UserValue, catch, clear_guarded};
use crate::panic::Panicked;
use crate::policy::PanicPolicy;
use crate::site::{AsSite, Site};
use crate::telemetry;

pin_project_lite::pin_project! {
    /// A stream that catches panics raised while it is polled.
    ///
    /// It yields the inner stream's items until the inner stream ends, or until a poll panics:
    /// the panic is reported once (log, metric, span, reporter) and the site's policy applied;
    /// under [`PanicPolicy::KeepRunning`] the stream then yields one last item,
    /// `S::Item::from_panic(panicked)` ([`FromPanic`]), and ends (`None` from then on). The
    /// guarded stream is fused ([`FusedStream`]).
    ///
    /// The item shape that fits is `Result<T, E>` with `E: From<Panicked>`: the last item is
    /// `Err(E::from(panicked))`. A tonic server stream (`Result<T, tonic::Status>`, cargo feature
    /// `tonic`) thus ends with status INTERNAL after the messages produced before the panic.
    ///
    /// # Drops
    ///
    /// Every drop of the inner stream runs inside a guard of the same site, in the stream's
    /// span, so a panic in its `Drop` is reported once (event, count, span event, reporter) and
    /// the policy applied, like a panic while polling; it never unwinds out of this stream. The
    /// inner stream is dropped
    /// - at its end, inside the guard of the poll that saw `None`: the consumer still gets
    ///   `None`;
    /// - after a caught panic, at once, in a guard of its own: the consumer still gets the one
    ///   last item, then `None`, whatever the inner stream's `Drop` does;
    /// - when this stream is dropped before either (mid-stream, or before its first poll), in
    ///   this stream's `Drop`. That holds whoever drops it: a task, a handler under
    ///   [`RecoverLayer`](crate::tower::RecoverLayer), or code outside every guard. Under
    ///   [`PanicPolicy::KeepRunning`] the drop's panic is reported and the drop returns
    ///   normally (the dropping code sees nothing); under [`PanicPolicy::CrashProcess`] the
    ///   process ends there, as for a panic while polling.
    ///
    /// The boundary: the items it yielded are the consumer's, and so are their drops; the
    /// [`Panicked`] of a last item never panics when dropped (its payload is contained).
    ///
    /// ```
    /// use std::pin::{Pin, pin};
    /// use std::task::{Context, Poll};
    ///
    /// use futures_core::{FusedStream, Stream};
    /// use mruntime::{PanicPolicy, Panicked};
    ///
    /// /// Yields one row, then ends; its `Drop` is broken.
    /// struct Cursor(bool);
    ///
    /// impl Stream for Cursor {
    ///     type Item = Result<u32, Panicked>;
    ///
    ///     fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
    ///         Poll::Ready((!std::mem::replace(&mut self.0, true)).then_some(Ok(1)))
    ///     }
    /// }
    ///
    /// impl Drop for Cursor {
    ///     fn drop(&mut self) {
    ///         panic!("connection already closed");
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let cursor = Cursor(false);
    /// let mut rows = pin!(mruntime::guard_stream("ledger", "rows", PanicPolicy::KeepRunning, cursor));
    /// let first = std::future::poll_fn(|cx| rows.as_mut().poll_next(cx)).await;
    /// assert!(matches!(first, Some(Ok(1))));
    /// // The cursor is dropped at its end, in the guard: its panic is reported once, and the
    /// // consumer gets the end.
    /// assert!(std::future::poll_fn(|cx| rows.as_mut().poll_next(cx)).await.is_none());
    /// assert!(rows.is_terminated());
    /// # }
    /// ```
    ///
    /// Made by [`guard_stream`] and by `#[recover]` on a fn returning `impl Stream`.
    #[must_use = "streams do nothing unless polled"]
    pub struct GuardedStream<St, S: AsSite = Site> {
        #[pin]
        inner: Option<UserValue<St>>,
        // A panic recovered while the stream was being made, not yet yielded.
        failed: Option<Panicked>,
        site: S,
        span: Span,
    }

    impl<St, S: AsSite> PinnedDrop for GuardedStream<St, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if std::mem::needs_drop::<St>() && this.inner.is_some() {
                drop_inner(this.inner, this.site.site(), this.span);
            }
        }
    }
}

/// Drops a guarded stream's inner stream in a guard of its own, in the stream's span: after a
/// caught panic, or when the guarded stream is dropped before the inner one ended. A panic in
/// the drop is reported (and its policy applied) there: nothing waits for it.
#[cold]
#[inline(never)]
fn drop_inner<St>(inner: Pin<&mut Option<UserValue<St>>>, site: &Site, span: &Span) {
    let _entered = span.enter();
    let _ = clear_guarded(inner, site, Recovery::Guard);
}

impl<St, S: AsSite> GuardedStream<St, S> {
    #[inline]
    pub(crate) fn new(inner: St, site: S, span: Span) -> Self {
        GuardedStream {
            inner: Some(UserValue::new(inner)),
            failed: None,
            site,
            span,
        }
    }

    /// A stream that yields the item for `panicked` (recovered while making the stream) and ends.
    #[cold]
    pub(crate) fn failed(panicked: Panicked, site: S, span: Span) -> Self {
        GuardedStream {
            inner: None,
            failed: Some(panicked),
            site,
            span,
        }
    }

    /// The site (component, name, policy) this stream is guarded under.
    pub fn site(&self) -> &Site {
        self.site.site()
    }
}

impl<St, S> Stream for GuardedStream<St, S>
where
    St: Stream,
    St::Item: StreamItem,
    S: AsSite,
{
    type Item = St::Item;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let Some(mut inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(this.failed.take().map(St::Item::from_panic));
        };
        let mut ended = false;
        let polled = {
            let _entered = this.span.enter();
            catch(this.site.site(), || {
                let poll = inner.as_mut().as_pin_mut().poll_next(cx);
                if let Poll::Ready(None) = poll {
                    // Fused: dropped at its end, in this guard (no guard of its own to pay).
                    ended = true;
                    // SAFETY: the slot is emptied below, whatever the drop does: the stream is
                    // never polled nor dropped again; this runs inside the guard.
                    unsafe { inner.as_mut().get_unchecked_mut().drop_in_guard() };
                }
                poll
            })
        };
        if ended {
            // `UserValue` has no drop of its own: this only empties the slot. A panic of the
            // drop is reported already; the end is still the end.
            // SAFETY: nothing is moved out of the pinned slot.
            unsafe { *this.inner.get_unchecked_mut() = None };
            return Poll::Ready(None);
        }
        match polled {
            Ok(poll) => poll,
            Err(panicked) => {
                // The one last item comes whatever the inner stream's drop does.
                drop_inner(this.inner, this.site.site(), this.span);
                Poll::Ready(Some(St::Item::from_panic(panicked)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            // One more item if it panics.
            Some(inner) => {
                let (low, high) = inner.get().size_hint();
                (low, high.and_then(|h| h.checked_add(1)))
            }
            None => {
                let left = usize::from(self.failed.is_some());
                (left, Some(left))
            }
        }
    }
}

impl<St, S> FusedStream for GuardedStream<St, S>
where
    St: Stream,
    St::Item: StreamItem,
    S: AsSite,
{
    fn is_terminated(&self) -> bool {
        self.inner.is_none() && self.failed.is_none()
    }
}

/// Wraps `stream` in a guard: every `poll_next` catches panics. A panic is reported once, then
/// (under [`PanicPolicy::KeepRunning`]) the stream yields one last item made from the
/// [`Panicked`] by [`FromPanic`] and ends; under [`PanicPolicy::CrashProcess`] the process ends
/// after telemetry is flushed.
///
/// For a stream of `Result<T, E>` with `E: From<Panicked>` the last item is
/// `Err(E::from(panicked))`, so a consumer sees the items produced before the panic, then one
/// error, then the end. The stream is polled inside a span created now, as a child of the current
/// span. `#[recover]` on a fn returning `impl Stream` expands to the same guard.
///
/// Every drop of `stream` runs in the guard too (see [`GuardedStream`]'s "Drops"): at its end,
/// after a caught panic, and when the guarded stream is dropped before that, whoever drops it,
/// even code outside every guard. A panic in `stream`'s `Drop` is reported once; the consumer
/// still gets the one last item after a caught panic, and `None` at the end. The items already
/// yielded are the consumer's: their drops are not guarded.
///
/// ```
/// use std::pin::pin;
///
/// use futures_core::Stream;
/// use mruntime::{PanicPolicy, Panicked};
///
/// #[derive(Debug, PartialEq)]
/// struct ExportError(String);
///
/// impl From<Panicked> for ExportError {
///     fn from(panicked: Panicked) -> Self {
///         ExportError(panicked.message().to_owned())
///     }
/// }
///
/// /// Counts down from 3, panicking at 0.
/// struct Countdown(u32);
///
/// impl Stream for Countdown {
///     type Item = Result<u32, ExportError>;
///
///     fn poll_next(
///         mut self: std::pin::Pin<&mut Self>,
///         _: &mut std::task::Context<'_>,
///     ) -> std::task::Poll<Option<Self::Item>> {
///         self.0 -= 1;
///         assert!(self.0 > 0, "counter underflow");
///         std::task::Poll::Ready(Some(Ok(self.0)))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut stream = pin!(mruntime::guard_stream(
///     "ledger",
///     "countdown",
///     PanicPolicy::KeepRunning,
///     Countdown(3),
/// ));
/// let mut items = Vec::new();
/// while let Some(item) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
///     items.push(item);
/// }
/// assert_eq!(items.len(), 3);
/// assert_eq!(items[..2], [Ok(2), Ok(1)]);
/// assert_eq!(items[2], Err(ExportError("counter underflow".into())));
/// # }
/// ```
pub fn guard_stream<St>(
    component: &'static str,
    name: &'static str,
    policy: PanicPolicy,
    stream: St,
) -> GuardedStream<St, Site>
where
    St: Stream,
    St::Item: StreamItem,
{
    let site = Site::new(component, name, policy);
    let span = telemetry::guard_span(&site);
    GuardedStream::new(stream, site, span)
}

/// `#[recover]` on a sync fn returning `impl Stream`: `make` runs guarded in the stream's span; a
/// panic there gives the stream that yields the one last item.
pub(crate) fn make_sync<St, F>(site: &'static Site, make: F) -> GuardedStream<St, &'static Site>
where
    F: FnOnce() -> St,
{
    let span = telemetry::guard_span(site);
    let made = {
        let _entered = span.enter();
        catch(site, make)
    };
    match made {
        Ok(stream) => GuardedStream::new(stream, site, span),
        Err(panicked) => GuardedStream::failed(panicked, site, span),
    }
}

/// `#[recover]` on an async fn returning `impl Stream`: the same for the future that makes it.
pub(crate) async fn make_async<St, Fut>(
    site: &'static Site,
    make: Fut,
) -> GuardedStream<St, &'static Site>
where
    Fut: Future<Output = St>,
{
    let span = telemetry::guard_span(site);
    match GuardedFuture::new(make, site, span.clone()).await {
        Ok(stream) => GuardedStream::new(stream, site, span),
        Err(panicked) => GuardedStream::failed(panicked, site, span),
    }
}

/// The item of a stream given to [`guard_stream`]: a type with a value for a recovered panic.
/// Only exists for its error message; implemented for every [`FromPanic`] type.
#[diagnostic::on_unimplemented(
    message = "a guarded stream cannot end with an item of type `{Self}` after a recovered panic",
    label = "the stream's items have no value for a recovered panic",
    note = "make the items `Result<T, E>` with `E: From<mruntime::Panicked>` (the last item is then `Err(E::from(panicked))`), or implement `mruntime::FromPanic` for `{Self}`"
)]
pub trait StreamItem: FromPanic {}

// Errors name `StreamItem` (its message is about streams), not the `FromPanic` bound under it.
#[diagnostic::do_not_recommend]
impl<T: FromPanic> StreamItem for T {}
