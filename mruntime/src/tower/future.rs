//! [`ResponseFuture`]: the response future of a [`RecoverService`](super::RecoverService), and
//! the one allocation a request keeps while it is served ([`Held`]: its guard and the inner
//! future's state), which the body takes over for its guard when the response starts.

use std::cell::OnceCell;
use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;
use tracing::Span;

use super::body::{BodyGuard, GuardBox};
use super::{PanicResponse, RecoverBody, answer, guarded};
use crate::guard::{Recovery, UserValue, drop_guarded};
use crate::site::Site;
use crate::telemetry::egress;
use crate::telemetry::request::{self, Served};

/// Writes the span every request runs in (the `rpc.*` fields for a gRPC call) over `slot`, a
/// `Span::none()`, when the layer makes one and a subscriber may want it. The check of the max
/// level is inlined, so a service that traces nothing at INFO pays one atomic load for it.
#[inline(always)]
fn make_request_span(slot: &mut Span, site: &Site, served: &Served, enabled: bool) {
    if enabled && tracing::level_enabled!(tracing::Level::INFO) {
        *slot = new_request_span(site, served);
    }
}

/// The request span. Its fields are made inside `info_span!`, which makes them only when a
/// subscriber wants the span: a subscriber that filters it out costs no scan of the path.
#[inline(never)]
fn new_request_span(site: &Site, served: &Served) -> Span {
    let path = OnceCell::new();
    let path = || -> &str { path.get_or_init(|| egress::path(served.path())) };
    let rpc = || served.fields(path()).rpc_service_and_method();
    tracing::info_span!(
        target: "mruntime",
        "mruntime.http",
        component = site.component(),
        name = site.name(),
        policy = site.policy().as_str(),
        otel.name = site.name(),
        http.request.method = served.method(),
        url.path = path(),
        rpc.system = served.is_grpc().then_some("grpc"),
        rpc.service = rpc().map(|(service, _)| service),
        rpc.method = rpc().map(|(_, method)| method),
    )
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        // The handler's future: dropped only through its `UserValue` (in the request's guard).
        Polling { #[pin] future: UserValue<F> },
        Answered { response: Option<Response<RecoverBody<B>>> },
    }
}

/// What a request keeps while it is served, in one allocation that does not move: the guard
/// (site, span, request) and the state of the response future. The response future itself is
/// then two pointers, which its callers move for free; the body takes the allocation over for
/// its guard ([`GuardBox`]) when the response starts.
// `repr(C)`, the guard first: a pointer to a `Held` is a pointer to its guard.
#[repr(C)]
struct Held<F, B> {
    guard: BodyGuard,
    // Pinned: it never moves out of the allocation.
    state: State<F, B>,
}

impl<F, B> Held<F, B> {
    /// A request's allocation, its state `Answered { response: None }` (nothing), its span
    /// `Span::none()`: each field is written in place.
    #[inline]
    fn new(site: Site, served: Served) -> Box<Self> {
        let mut held = Box::<Self>::new_uninit();
        let slot = held.as_mut_ptr();
        // SAFETY: both fields of the uninitialized `Held` are written before `assume_init`.
        unsafe {
            std::ptr::addr_of_mut!((*slot).guard).write(BodyGuard {
                site,
                span: Span::none(),
                served,
            });
            std::ptr::addr_of_mut!((*slot).state).write(State::Answered { response: None });
            held.assume_init()
        }
    }

    /// The guard and the pinned state.
    #[inline]
    fn project(&mut self) -> (&BodyGuard, Pin<&mut State<F, B>>) {
        // SAFETY: the state is never moved out of its allocation (a `Held` is only ever used
        // boxed, and `GuardBox` frees it in place).
        (&self.guard, unsafe { Pin::new_unchecked(&mut self.state) })
    }

    /// The guard, for the body. The state must hold nothing (`Answered { response: None }`).
    #[inline]
    fn into_guard(self: Box<Self>) -> GuardBox {
        debug_assert!(matches!(self.state, State::Answered { response: None }));
        let held = NonNull::from(Box::leak(self));
        // SAFETY: the guard is the first field of the `repr(C)` `Held`; `free_held` frees the
        // allocation as the `Box<Held<F, B>>` it was, once, and its state holds nothing.
        unsafe { GuardBox::new(held.cast(), free_held::<F, B>) }
    }
}

/// Drops and frees a [`Held`] given to the body as its guard.
///
/// # Safety
///
/// `guard` comes from [`Held::into_guard`], and is freed once.
unsafe fn free_held<F, B>(guard: NonNull<BodyGuard>) {
    // SAFETY: the caller's; `guard` points at the start of a leaked `Box<Held<F, B>>`.
    drop(unsafe { Box::from_raw(guard.cast::<Held<F, B>>().as_ptr()) });
}

/// The response future of [`RecoverService`](super::RecoverService): the inner service's,
/// polled inside the guard and the request's span; its response's body is handed on guarded
/// ([`RecoverBody`]).
#[must_use = "futures do nothing unless polled"]
pub struct ResponseFuture<F, P, B> {
    // `None` once the response is handed on.
    held: Option<Box<Held<F, B>>>,
    on_panic: Arc<P>,
}

impl<F, P, B> ResponseFuture<F, P, B> {
    /// Calls `inner` with `request` inside the guard of `site`, in the request's span (if
    /// `request_span`): the response future of [`RecoverService::call`](super::RecoverService).
    #[inline]
    pub(super) fn start<S, R>(
        inner: &mut S,
        request: Request<R>,
        site: Site,
        request_span: bool,
        on_panic: &Arc<P>,
    ) -> Self
    where
        S: Service<Request<R>, Future = F>,
        P: PanicResponse<B>,
    {
        let mut held = Held::new(site, Served::of(&request));
        let Held { guard, state } = &mut *held;
        make_request_span(&mut guard.span, &site, &guard.served, request_span);
        // The inner future is written in place, in its allocation, inside the guard: it can be
        // a few hundred bytes (an axum router's is), and each move of it is a copy.
        let caught = {
            let _entered = guard.span.enter();
            guarded(&guard.site, &guard.served, || {
                // SAFETY: `state` is `State::Answered { response: None }`, which owns nothing:
                // overwriting it without dropping it leaks nothing. (No drop in between lets
                // the inner future be written straight into place.)
                unsafe {
                    std::ptr::write(
                        state,
                        State::Polling {
                            future: UserValue::new(inner.call(request)),
                        },
                    )
                };
            })
        };
        if let Err(panicked) = caught {
            *state = State::Answered {
                response: Some(answer(&guard.served, &**on_panic, panicked)),
            };
        }
        ResponseFuture {
            held: Some(held),
            on_panic: Arc::clone(on_panic),
        }
    }
}

// A future dropped before it finished (its client went away) drops what it holds for the
// handler (its future, or an answer not yet taken) inside the guard: a panic in a `Drop` there
// is recovered and reported with the request, instead of unwinding into the server's
// connection task.
impl<F, P, B> Drop for ResponseFuture<F, P, B> {
    fn drop(&mut self) {
        if let Some(held) = &mut self.held {
            let (guard, state) = held.project();
            if !matches!(*state, State::Answered { response: None }) {
                release(guard, state);
            }
        }
    }
}

/// The answer to a panic while the handler's future was polled: the future is dropped (in the
/// request's guard) and the answer made.
#[cold]
#[inline(never)]
fn after_panic<F, P, B>(
    guard: &BodyGuard,
    state: Pin<&mut State<F, B>>,
    on_panic: &P,
    panicked: crate::panic::Panicked,
) -> Response<RecoverBody<B>>
where
    P: PanicResponse<B>,
{
    let answer = answer(&guard.served, on_panic, panicked);
    release(guard, state);
    answer
}

/// Drops what `state` holds for the handler, in the request's guard and span, leaving it
/// `Answered { response: None }`. A panic there is reported with the request (and its policy
/// applied); nothing is waiting for it.
#[cold]
#[inline(never)]
fn release<F, B>(guard: &BodyGuard, mut state: Pin<&mut State<F, B>>) {
    let _entered = guard.span.enter();
    request::scoped(&guard.served, || match state.as_mut().project() {
        StateProj::Polling { future } => {
            // SAFETY: the state is overwritten below: the future is never used again.
            let _ = unsafe {
                future
                    .get_unchecked_mut()
                    .drop_guarded(&guard.site, Recovery::Guard)
            };
        }
        StateProj::Answered { response } => {
            if let Some(response) = response.take() {
                let _ = drop_guarded(&guard.site, Recovery::Guard, response);
            }
        }
    });
    // `UserValue` has no drop of its own: this drops nothing of the handler's.
    state.set(State::Answered { response: None });
}

impl<F, P, B, E> Future for ResponseFuture<F, P, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    P: PanicResponse<B>,
    B: http_body::Body,
{
    type Output = Result<Response<RecoverBody<B>>, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `ResponseFuture` is `Unpin`: what is pinned is in its allocation.
        let this = self.get_mut();
        let (guard, mut state) = this
            .held
            .as_mut()
            .expect("ResponseFuture polled after completion")
            .project();
        if let StateProj::Answered { response } = state.as_mut().project() {
            let response = response
                .take()
                .expect("ResponseFuture polled after completion");
            this.held = None;
            return Poll::Ready(Ok(response));
        }
        // Written in place inside the guard, as in `start`.
        let mut polled = MaybeUninit::uninit();
        let mut done = false;
        let caught = {
            let _entered = guard.span.enter();
            guarded(&guard.site, &guard.served, || {
                let StateProj::Polling { mut future } = state.as_mut().project() else {
                    unreachable!("the state is Polling")
                };
                let poll = future.as_mut().as_pin_mut().poll(cx);
                let ready = poll.is_ready();
                // Written first: a panic in the drop below does not lose the response.
                polled.write(poll);
                if ready {
                    done = true;
                    // Release what the handler held (a connection, a lock) now, in the guard.
                    // SAFETY: `done` makes the state forget it below: never used again.
                    unsafe { future.get_unchecked_mut().drop_in_guard() };
                }
            })
        };
        if !done {
            return match caught {
                Ok(()) => Poll::Pending,
                Err(panicked) => {
                    let answer = after_panic(guard, state, &*this.on_panic, panicked);
                    this.held = None;
                    Poll::Ready(Ok(answer))
                }
            };
        }
        // SAFETY: the state is `Polling` with its future dropped: a `UserValue`, no drop of its
        // own, so overwriting it drops nothing (and the drop glue stays out of this hot path).
        // A panic in the future's drop is reported already; the response stands.
        unsafe {
            std::ptr::write(
                state.get_unchecked_mut(),
                State::Answered { response: None },
            )
        };
        // SAFETY: the closure wrote before it returned, or before the drop that panicked.
        let response = match unsafe { polled.assume_init() } {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(error)) => {
                this.held = None;
                return Poll::Ready(Err(error));
            }
            // Not reached: `done` is only set on `Ready`.
            Poll::Pending => return Poll::Pending,
        };
        // The body goes on being polled after this future is done: it takes the site, the
        // request's span and the request.
        let Some(held) = this.held.take() else {
            unreachable!("the state was Polling")
        };
        let (parts, body) = response.into_parts();
        // An empty body with no drop to run (`()`, `Empty`) has nothing to guard. Whether it is
        // empty is the body's to say: asked in the guard (a panic there ends the body at its
        // first poll, as after a panic while polled).
        let empty = if std::mem::needs_drop::<B>() {
            Ok(false)
        } else {
            guarded(&held.guard.site, &held.guard.served, || {
                body.is_end_stream()
            })
        };
        let body = match empty {
            Ok(true) => RecoverBody::new(body),
            Ok(false) => RecoverBody::guarded(body, held.into_guard(), false),
            Err(_) => RecoverBody::guarded(body, held.into_guard(), true),
        };
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}

impl<F, P, B> fmt::Debug for ResponseFuture<F, P, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("ResponseFuture");
        if let Some(Held { guard, .. }) = self.held.as_deref() {
            debug
                .field("site", &guard.site)
                .field("method", &guard.served.method())
                .field("path", &guard.served.path());
        }
        debug.finish_non_exhaustive()
    }
}
