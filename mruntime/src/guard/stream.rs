//! [`GuardedStream`]: a stream whose every `poll_next` runs inside a guard and the stream's span;
//! a panic becomes one final item made by [`FromPanic`], then the stream ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use tracing::Span;

use crate::guard::{FromPanic, GuardedFuture, catch};
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
    /// inner stream is dropped at the panic, releasing what it held, or at its end (the guarded
    /// stream is fused: [`FusedStream`]).
    ///
    /// The item shape that fits is `Result<T, E>` with `E: From<Panicked>`: the last item is
    /// `Err(E::from(panicked))`. A tonic server stream (`Result<T, tonic::Status>`, cargo feature
    /// `tonic`) thus ends with status INTERNAL after the messages produced before the panic.
    ///
    /// Made by [`guard_stream`] and by `#[recover]` on a fn returning `impl Stream`.
    #[must_use = "streams do nothing unless polled"]
    pub struct GuardedStream<St, S = Site> {
        #[pin]
        inner: Option<St>,
        // A panic recovered while the stream was being made, not yet yielded.
        failed: Option<Panicked>,
        site: S,
        span: Span,
    }
}

impl<St, S: AsSite> GuardedStream<St, S> {
    #[inline]
    pub(crate) fn new(inner: St, site: S, span: Span) -> Self {
        GuardedStream {
            inner: Some(inner),
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
        let Some(inner) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(this.failed.take().map(St::Item::from_panic));
        };
        let polled = {
            let _entered = this.span.enter();
            catch(this.site.site(), || inner.poll_next(cx))
        };
        match polled {
            Ok(Poll::Ready(None)) => {
                // Fused: the inner stream is not polled after its end.
                this.inner.set(None);
                Poll::Ready(None)
            }
            Ok(poll) => poll,
            Err(panicked) => {
                {
                    let _entered = this.span.enter();
                    this.inner.set(None);
                }
                Poll::Ready(Some(St::Item::from_panic(panicked)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            // One more item if it panics.
            Some(inner) => {
                let (low, high) = inner.size_hint();
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
