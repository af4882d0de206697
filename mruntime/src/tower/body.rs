//! [`RecoverBody`]: the response body of a [`RecoverService`](super::RecoverService), whose every
//! `poll_frame` runs in the request's guard and span.

use std::error::Error;
use std::fmt;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderValue, Response, header};
use http_body::{Body, Frame, SizeHint};
use tracing::Span;

use super::guarded;
use crate::grpc;
use crate::guard::{Recovery, UserValue, drop_guarded};
use crate::site::Site;
use crate::telemetry::request::{self, Served};

/// The error type of [`RecoverBody`]: the inner body's errors, boxed, or a [`BodyPanicked`].
pub type BoxError = Box<dyn Error + Send + Sync>;

/// What a [`RecoverBody`] ends with when polling the inner body panicked (an HTTP request;
/// a gRPC call ends with status INTERNAL in the trailers instead). hyper aborts the response
/// on it: over HTTP/1.1 the connection closes before the final chunk, over HTTP/2 the stream is
/// reset. The panic has already been reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BodyPanicked;

impl fmt::Display for BodyPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the response body panicked; the response was aborted")
    }
}

impl Error for BodyPanicked {}

/// What a guarded body needs to report a panic: the layer's site, the request's span and the
/// request itself.
pub(super) struct BodyGuard {
    pub(super) site: Site,
    pub(super) span: Span,
    pub(super) served: Served,
}

/// A request's [`BodyGuard`], owned, in the allocation its response future made (the future's
/// `Held`, which starts with the guard): erased, so the body's type does not name the future's.
/// Dropping it frees that allocation, whose future part holds nothing by then.
pub(super) struct GuardBox {
    guard: NonNull<BodyGuard>,
    free: unsafe fn(NonNull<BodyGuard>),
}

// SAFETY: a `GuardBox` owns a `BodyGuard` (`Send + Sync`: asserted below) and memory where
// nothing else is alive.
unsafe impl Send for GuardBox {}
// SAFETY: as for `Send`; `&GuardBox` only gives `&BodyGuard`.
unsafe impl Sync for GuardBox {}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<BodyGuard>();
};

impl GuardBox {
    /// # Safety
    ///
    /// `guard` is owned by the caller and handed over; `free(guard)` drops it and frees its
    /// allocation, once, and nothing else in that allocation is alive.
    #[inline]
    pub(super) unsafe fn new(
        guard: NonNull<BodyGuard>,
        free: unsafe fn(NonNull<BodyGuard>),
    ) -> Self {
        GuardBox { guard, free }
    }
}

impl Deref for GuardBox {
    type Target = BodyGuard;

    #[inline]
    fn deref(&self) -> &BodyGuard {
        // SAFETY: the guard is alive and owned by `self` until `drop`.
        unsafe { self.guard.as_ref() }
    }
}

impl Drop for GuardBox {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as `new` requires; called once.
        unsafe { (self.free)(self.guard) }
    }
}

/// The handler's body with its guard. The body is dropped inside the guard too: a client that
/// goes away mid-stream drops it, and a panic in a `Drop` of what it holds is recovered and
/// reported with the request instead of unwinding into the server's connection task.
pub(super) struct GuardedBody<B> {
    // Structurally pinned (see `project`); dropped in place, by `poll_frame` at its end or by
    // `Drop`, never moved while pinned.
    body: UserValue<B>,
    guard: GuardBox,
    // The body was dropped (in its guard, by `poll_frame`, when it reached its end).
    released: bool,
    // It was polled: its end is known from the last poll (it is `Ended` at its end).
    polled: bool,
    // Its `is_end_stream` or `size_hint` panicked (reported): the next poll ends it.
    hint_panicked: AtomicBool,
}

impl<B> GuardedBody<B> {
    /// The body (pinned: see `pin_body`), the guard, whether the body was released, and whether
    /// it was polled.
    #[inline]
    fn project(self: Pin<&mut Self>) -> (&mut UserValue<B>, &BodyGuard, &mut bool, &mut bool) {
        // SAFETY: `body` is never moved out of a pinned `GuardedBody`: only `into_inner`, which
        // takes it by value (so unpinned), moves it; `poll_frame` and `Drop` drop it in place.
        let this = unsafe { self.get_unchecked_mut() };
        (
            &mut this.body,
            &this.guard,
            &mut this.released,
            &mut this.polled,
        )
    }

    /// The body's answer to `question` (`is_end_stream`, `size_hint`), asked in its guard;
    /// `after_panic` once the body panicked there, and the next poll ends it. `is_end_stream`
    /// comes here before the first poll only (after one, the poll asked it), `size_hint`
    /// whenever asked (hyper: once, first). Not in the request's span, whose enter and exit
    /// would cost more than the question; a report still has the request.
    #[inline]
    fn ask<T>(&self, question: impl FnOnce(&B) -> T, after_panic: T) -> T {
        if self.hint_panicked.load(Ordering::Relaxed) {
            return after_panic;
        }
        let guard = &self.guard;
        match guarded(&guard.site, &guard.served, || question(self.body.get())) {
            Ok(answer) => answer,
            Err(_) => {
                self.hint_panicked.store(true, Ordering::Relaxed);
                after_panic
            }
        }
    }

    /// The body, no longer guarded.
    fn into_inner(self) -> B {
        debug_assert!(!self.released, "a released body is never `Kind::Guarded`");
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped: the body is taken once, and the guard dropped once.
        unsafe {
            std::ptr::drop_in_place(&mut this.guard);
            std::ptr::read(&this.body).into_inner()
        }
    }
}

/// The body of a pinned [`GuardedBody`], pinned.
#[inline]
fn pin_body<B>(body: &mut UserValue<B>) -> Pin<&mut B> {
    // SAFETY: the caller got `body` from a pinned `GuardedBody` (`project`), where it never moves.
    unsafe { Pin::new_unchecked(body.get_mut()) }
}

impl<B> Drop for GuardedBody<B> {
    fn drop(&mut self) {
        if !std::mem::needs_drop::<B>() || self.released {
            return;
        }
        let body = &mut self.body;
        let guard = &self.guard;
        let _entered = guard.span.enter();
        // Reported already if it panics, with the request; the response is gone.
        // SAFETY: the body is dropped here, once, and never used again.
        let _ = request::scoped(&guard.served, || unsafe {
            body.drop_guarded(&guard.site, Recovery::Guard)
        });
    }
}

pin_project_lite::pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        // The handler's body, polled in the request's guard.
        Guarded { #[pin] guarded: GuardedBody<B> },
        // The body of an answer to a panic (`on_panic`'s): not guarded again.
        Answer { #[pin] body: B },
        // The text of the layer's own answer to a panic (`DefaultPanicResponse`'s).
        Text { text: Option<&'static str> },
        // Nothing (more) to send: a gRPC trailers-only answer, or a body that panicked.
        Ended,
    }
}

pin_project_lite::pin_project! {
    /// The response body of a service wrapped by [`RecoverLayer`](super::RecoverLayer): the inner
    /// service's body `B`, whose every [`poll_frame`](Body::poll_frame) runs inside the layer's
    /// guard, with the request as the one being served (so a panic is reported once, with the
    /// request's method and path) and inside the request's span. Its
    /// [`is_end_stream`](Body::is_end_stream) and [`size_hint`](Body::size_hint) run in the guard
    /// too (not in the span): after a panic there they answer `false` and an unknown size, and
    /// the next poll ends the body as after a panic while polling.
    ///
    /// The inner body is dropped inside the guard too, wherever that happens: after a panic
    /// while it is polled, when the body is dropped unread, at its end or mid-stream (a client
    /// that went away), by whatever code drops it. A panic in its `Drop` is reported once with
    /// the request and never unwinds into the server. The body of an answer to a panic (what a
    /// [`PanicResponse`](super::PanicResponse) returns) is passed through unguarded.
    ///
    /// A panic while it is polled ends it: a gRPC call's body ends with a trailers frame
    /// `grpc-status: 13` (INTERNAL) and the fixed
    /// [`GRPC_PANIC_MESSAGE`](super::GRPC_PANIC_MESSAGE), after the messages already sent; any
    /// other body ends with the error [`BodyPanicked`], on which hyper aborts the response. Its
    /// error type is [`BoxError`] (the inner body's errors, boxed), which hyper, axum and tonic
    /// accept.
    pub struct RecoverBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

impl<B> RecoverBody<B> {
    #[inline]
    /// The handler's `body`, guarded; `hint_panicked` if its `is_end_stream` panicked already
    /// (reported): its first poll ends it.
    pub(super) fn guarded(body: B, guard: GuardBox, hint_panicked: bool) -> Self {
        RecoverBody {
            kind: Kind::Guarded {
                guarded: GuardedBody {
                    body: UserValue::new(body),
                    guard,
                    released: false,
                    polled: false,
                    hint_panicked: AtomicBool::new(hint_panicked),
                },
            },
        }
    }

    /// `body` as the body of an answer to a panic (what a [`PanicResponse`](super::PanicResponse)
    /// returns): passed through, unguarded.
    #[inline]
    pub fn new(body: B) -> Self {
        RecoverBody {
            kind: Kind::Answer { body },
        }
    }

    /// A body of one frame, `text`.
    pub(super) fn from_text(text: &'static str) -> Self {
        RecoverBody {
            kind: Kind::Text { text: Some(text) },
        }
    }

    /// The body of a gRPC trailers-only answer (everything is in the headers).
    pub(super) fn ended() -> Self {
        RecoverBody { kind: Kind::Ended }
    }

    /// The inner body: the handler's, or the one `on_panic` returned; `None` for a body the
    /// layer made itself (its default answer, a gRPC answer, a body that panicked), and for a
    /// handler's body polled to its end (dropped then, in its guard, to release what it held).
    pub fn get_ref(&self) -> Option<&B> {
        match &self.kind {
            Kind::Guarded { guarded } => Some(guarded.body.get()),
            Kind::Answer { body } => Some(body),
            Kind::Text { .. } | Kind::Ended => None,
        }
    }

    /// The inner body, as [`get_ref`](Self::get_ref) says; it is no longer guarded.
    pub fn into_inner(self) -> Option<B> {
        match self.kind {
            Kind::Guarded { guarded } => Some(guarded.into_inner()),
            Kind::Answer { body } => Some(body),
            Kind::Text { .. } | Kind::Ended => None,
        }
    }

    /// The text of the layer's default answer ([`DEFAULT_PANIC_BODY`](super::DEFAULT_PANIC_BODY))
    /// when this is its body and not yet polled.
    pub fn text(&self) -> Option<&'static str> {
        match &self.kind {
            Kind::Text { text } => *text,
            _ => None,
        }
    }
}

impl<B> Body for RecoverBody<B>
where
    B: Body,
    B::Data: From<&'static str>,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        match this.kind.as_mut().project() {
            KindProj::Guarded { guarded: handler } => {
                if handler.hint_panicked.load(Ordering::Relaxed) {
                    return end_after_panic(this.kind);
                }
                let (body, guard, released, polled_before) = handler.project();
                // Written in place inside the guard and returned from here: a frame is about a
                // hundred bytes, and each move of it is paid on every frame.
                let mut polled = MaybeUninit::uninit();
                let mut written = false;
                let caught = {
                    let _entered = guard.span.enter();
                    guarded(&guard.site, &guard.served, || {
                        let frame = polled.write(
                            pin_body(body)
                                .poll_frame(cx)
                                .map(|frame| frame.map(|f| f.map_err(Into::into))),
                        );
                        written = true;
                        // At its end the body is dropped now, in this guard and span: what it
                        // holds is released at once, and neither its drop nor a later poll
                        // enters them again. Its end is `None`, or `is_end_stream` after a
                        // frame, asked here, in the guard: hyper asks after every frame, and
                        // `RecoverBody::is_end_stream` answers from this poll without calling
                        // the body again.
                        *polled_before = true;
                        let end = match frame {
                            Poll::Ready(None) => true,
                            Poll::Ready(Some(Ok(_))) => pin_body(body).is_end_stream(),
                            _ => false,
                        };
                        if end {
                            *released = true;
                            // SAFETY: `released` keeps it from being used or dropped again.
                            unsafe { body.drop_in_guard() };
                        }
                    })
                };
                if *released {
                    // The guard goes with it (the request's span closes). A panic in the
                    // body's drop is reported already: the frame stands.
                    this.kind.set(Kind::Ended);
                    // SAFETY: `released` is set only after the frame was written.
                    return unsafe { polled.assume_init() };
                }
                match caught {
                    // SAFETY: the guard returned Ok: the closure ran to its end, so it wrote.
                    Ok(()) => return unsafe { polled.assume_init() },
                    // `is_end_stream` panicked after the frame was written: it goes, guarded,
                    // with the rest of the body.
                    Err(_) if written => {
                        // SAFETY: written, and never read.
                        let frame = unsafe { polled.assume_init() };
                        let _ = drop_guarded(&guard.site, Recovery::Guard, frame);
                    }
                    Err(_) => {}
                }
            }
            KindProj::Answer { body } => {
                return body
                    .poll_frame(cx)
                    .map(|frame| frame.map(|f| f.map_err(Into::into)));
            }
            KindProj::Text { text } => {
                return Poll::Ready(text.take().map(|t| Ok(Frame::data(t.into()))));
            }
            KindProj::Ended => return Poll::Ready(None),
        }
        // The guard reported the panic; the body's end says the rest.
        end_after_panic(this.kind)
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match &self.kind {
            // Once polled, the last poll asked it: at its end, the body is `Ended` now. Before,
            // in the guard; `false` after a panic there (the next poll ends the body).
            Kind::Guarded { guarded } if guarded.polled => false,
            Kind::Guarded { guarded } => guarded.ask(B::is_end_stream, false),
            Kind::Answer { body } => body.is_end_stream(),
            Kind::Text { text } => text.is_none(),
            Kind::Ended => true,
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Guarded { guarded } => guarded.ask(B::size_hint, SizeHint::default()),
            Kind::Answer { body } => body.size_hint(),
            Kind::Text { text } => SizeHint::with_exact(text.map_or(0, |t| t.len() as u64)),
            Kind::Ended => SizeHint::with_exact(0),
        }
    }
}

/// Ends a guarded body whose poll panicked (the panic is reported already): what it held (a
/// stream, a connection) is released now, in the request's span; a gRPC call ends with status
/// INTERNAL in its trailers, anything else with [`BodyPanicked`].
#[cold]
#[inline(never)]
fn end_after_panic<B: Body>(
    mut kind: Pin<&mut Kind<B>>,
) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
    let (grpc, span) = match &*kind {
        Kind::Guarded { guarded } => (guarded.guard.served.is_grpc(), guarded.guard.span.clone()),
        _ => (false, Span::none()),
    };
    span.in_scope(|| kind.set(Kind::Ended));
    if grpc {
        Poll::Ready(Some(Ok(Frame::trailers(grpc_internal(HeaderMap::new())))))
    } else {
        Poll::Ready(Some(Err(Box::new(BodyPanicked))))
    }
}

impl<B> fmt::Debug for RecoverBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Guarded { .. } => "guarded",
            Kind::Answer { .. } => "answer",
            Kind::Text { .. } => "text",
            Kind::Ended => "ended",
        };
        f.debug_struct("RecoverBody")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// `headers` with `grpc-status: 13` (INTERNAL) and the fixed `grpc-message`.
fn grpc_internal(mut headers: HeaderMap) -> HeaderMap {
    headers.insert(
        "grpc-status",
        HeaderValue::from_static(grpc::STATUS_INTERNAL),
    );
    headers.insert(
        "grpc-message",
        HeaderValue::from_static(grpc::PANIC_MESSAGE),
    );
    headers
}

/// The answer to a gRPC call whose handler panicked before its response started: HTTP 200,
/// trailers-only (`content-type: application/grpc`, `grpc-status: 13`, the fixed
/// `grpc-message`, and an empty body).
pub(super) fn grpc_panic_response<B>() -> Response<RecoverBody<B>> {
    let mut response = Response::new(RecoverBody::ended());
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    *headers = grpc_internal(std::mem::take(headers));
    response
}
