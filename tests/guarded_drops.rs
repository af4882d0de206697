//! Every drop mruntime performs is guarded: a stream, a future and a response body whose `Drop`
//! panics, dropped at every point where mruntime may drop it (before its first poll, at its
//! end, after a caught poll panic, mid-stream when the guarded wrapper itself is dropped), with
//! the wrapper consumed and dropped in every kind of place (unguarded code, a task, a task
//! aborted while it holds it, a handler under `RecoverLayer`, a request dropped while its
//! handler holds it, the blocking pool) and made both ways (the function API and what
//! `#[recover]` emits). Each case asserts what leaves the guard (items, output, frames, the
//! end) and that every panic is reported exactly once, under the wrapper's own site; nothing
//! unwinds into the consumer.
//!
//! The expected outcome depends on the drop point only: the cases are generated as the product
//! of the tables below.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use http::{Request, Response};
use http_body::{Body, Frame};
use mruntime::PanicPolicy::KeepRunning;
use mruntime::tower::{BodyPanicked, RecoverLayer};
use mruntime::{Panicked, Site};
use mruntime_tests::{Capture, keep_reports, reports_of};
use tower::{Layer, Service, ServiceExt, service_fn};

/// What the inner value's poll panics with.
const POLL_PANIC: &str = "poll of the inner value failed";
/// What the inner value's `Drop` panics with.
const DROP_PANIC: &str = "drop of the inner value failed";

/// The reporter is process-wide and the cases count reports: the tests take turns.
static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops of a bomb that ran while the thread was already unwinding (a drop mruntime did in the
/// wrong place: the bomb does not panic then, so the test fails instead of aborting).
static DROPPED_WHILE_UNWINDING: AtomicUsize = AtomicUsize::new(0);

/// The `Drop` every inner value here has: it panics (not while unwinding: that would abort).
fn explode() {
    if std::thread::panicking() {
        DROPPED_WHILE_UNWINDING.fetch_add(1, Ordering::SeqCst);
    } else {
        panic!("{DROP_PANIC}");
    }
}

/// Where mruntime may drop the inner value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Point {
    /// The guarded wrapper is dropped before its first poll.
    Unpolled,
    /// The inner value ends (`None`, `Ready`); polled once more after.
    AtEnd,
    /// A poll of the inner value panics; polled once more after.
    AfterPollPanic,
    /// The guarded wrapper is dropped mid-stream (mid-flight).
    Midway,
}

const POINTS: [Point; 4] = [
    Point::Unpolled,
    Point::AtEnd,
    Point::AfterPollPanic,
    Point::Midway,
];

impl Point {
    /// The messages of the panics reported, in order: each exactly once.
    fn reported(self) -> Vec<&'static str> {
        match self {
            Point::AfterPollPanic => vec![POLL_PANIC, DROP_PANIC],
            _ => vec![DROP_PANIC],
        }
    }

    /// The poll at which the inner value panics.
    fn panic_at(self) -> Option<u32> {
        (self == Point::AfterPollPanic).then_some(1)
    }
}

/// Where the guarded wrapper is consumed and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Plain code, outside every guard.
    Unguarded,
    /// A task that drops it before returning.
    Task,
    /// A task aborted while it holds it (across an `.await`).
    AbortedTask,
    /// A handler under `RecoverLayer` that drops it before answering.
    Handler,
    /// A request whose future is dropped (the client went away) while its handler holds it.
    DroppedRequest,
    /// A job on the blocking pool.
    Blocking,
}

const PLACES: [Place; 6] = [
    Place::Unguarded,
    Place::Task,
    Place::AbortedTask,
    Place::Handler,
    Place::DroppedRequest,
    Place::Blocking,
];

/// The component of the tasks and of the layer the wrappers are consumed in: nothing may be
/// reported under it (each panic belongs to the wrapper's own site).
const HOST: &str = "drops-host";

fn no_op_cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// The reports and `panic.recovered` events made while `run` ran, for `component`, checked to
/// be exactly `expected`'s messages (once each), with none under [`HOST`].
fn assert_reported_once<R>(
    capture: &Capture,
    component: &str,
    expected: &[&str],
    case: &str,
    run: impl FnOnce() -> R,
) -> R {
    let reports_before = reports_of(component).len();
    let host_before = reports_of(HOST).len();
    let events_before = capture.panic_events().len();
    let unwinding_before = DROPPED_WHILE_UNWINDING.load(Ordering::SeqCst);
    let result = run();
    let reports: Vec<String> = reports_of(component)[reports_before..]
        .iter()
        .map(|r| r.message.clone())
        .collect();
    assert_eq!(reports, expected, "{case}: reports");
    assert_eq!(
        reports_of(HOST).len(),
        host_before,
        "{case}: reported under the host"
    );
    let events: Vec<String> = capture.panic_events()[events_before..]
        .iter()
        .map(|e| {
            assert_eq!(
                e.field("component"),
                Some(component),
                "{case}: event's component"
            );
            e.field("panic.value").unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(events, expected, "{case}: panic.recovered events");
    assert_eq!(
        DROPPED_WHILE_UNWINDING.load(Ordering::SeqCst),
        unwinding_before,
        "{case}: a drop ran while unwinding"
    );
    result
}

/// Runs `consume` in `place` (on `rt`), the wrapper made there by `make`; returns what
/// `consume` saw. Nothing may unwind out of any place.
fn in_place<T, W>(
    rt: &tokio::runtime::Runtime,
    place: Place,
    make: fn(Point) -> W,
    point: Point,
    consume: fn(Pin<&mut W>, Point) -> T,
) -> T
where
    T: Send + 'static,
    W: Send + 'static,
{
    match place {
        Place::Unguarded => catch_unwind(AssertUnwindSafe(|| {
            let mut wrapper = Box::pin(make(point));
            let seen = consume(wrapper.as_mut(), point);
            drop(wrapper);
            seen
        }))
        .expect("a drop unwound into unguarded code"),
        Place::Task => rt
            .block_on(async move {
                mruntime::spawn(HOST, "task", KeepRunning, async move {
                    let mut wrapper = Box::pin(make(point));
                    consume(wrapper.as_mut(), point)
                })
                .await
            })
            .expect("the task failed"),
        Place::AbortedTask => {
            let (sent, seen) = std::sync::mpsc::channel();
            let handle = {
                let _entered = rt.enter();
                mruntime::spawn(HOST, "held", KeepRunning, async move {
                    let mut wrapper = Box::pin(make(point));
                    let _ = sent.send(consume(wrapper.as_mut(), point));
                    std::future::pending::<()>().await;
                    drop(wrapper);
                })
            };
            let seen = rt.block_on(async {
                for _ in 0..100 {
                    if let Ok(seen) = seen.try_recv() {
                        return seen;
                    }
                    tokio::task::yield_now().await;
                }
                panic!("the task did not run");
            });
            handle.abort();
            let ended = rt.block_on(handle);
            assert!(
                matches!(ended, Err(mruntime::TaskError::Cancelled)),
                "{ended:?}"
            );
            seen
        }
        Place::Handler => {
            let (sent, seen) = std::sync::mpsc::channel();
            let service = RecoverLayer::new(HOST).layer(service_fn(move |_: Request<()>| {
                let sent = sent.clone();
                async move {
                    let mut wrapper = Box::pin(make(point));
                    let _ = sent.send(consume(wrapper.as_mut(), point));
                    drop(wrapper);
                    Ok::<_, Infallible>(Response::new(String::from("answered")))
                }
            }));
            let response = rt
                .block_on(service.oneshot(Request::new(())))
                .expect("answered");
            assert_eq!(response.status(), http::StatusCode::OK);
            seen.recv().expect("the handler ran")
        }
        Place::DroppedRequest => {
            let (sent, seen) = std::sync::mpsc::channel();
            let mut service = RecoverLayer::new(HOST).layer(service_fn(move |_: Request<()>| {
                let sent = sent.clone();
                async move {
                    let mut wrapper = Box::pin(make(point));
                    let _ = sent.send(consume(wrapper.as_mut(), point));
                    std::future::pending::<()>().await;
                    drop(wrapper);
                    Ok::<_, Infallible>(Response::new(String::new()))
                }
            }));
            let mut future = Box::pin(service.call(Request::new(())));
            assert!(future.as_mut().poll(&mut no_op_cx()).is_pending());
            // The server drops it, outside every guard of ours.
            catch_unwind(AssertUnwindSafe(move || drop(future)))
                .expect("a drop unwound into the server");
            seen.recv().expect("the handler ran")
        }
        Place::Blocking => rt
            .block_on(async move {
                mruntime::spawn_blocking(HOST, "job", KeepRunning, move || {
                    let mut wrapper = Box::pin(make(point));
                    consume(wrapper.as_mut(), point)
                })
                .await
            })
            .expect("the job failed"),
    }
}

// ---------------------------------------------------------------------------------------------
// Streams

/// The error of the streams' items: a recovered panic becomes its message.
#[derive(Debug, Clone, PartialEq)]
struct RowError(String);

impl From<Panicked> for RowError {
    fn from(panicked: Panicked) -> Self {
        RowError(panicked.message().to_owned())
    }
}

/// Yields `Ok(0)`, `Ok(1)`, then ends; panics at poll `panic_at`; its `Drop` panics.
struct BombStream {
    next: u32,
    panic_at: Option<u32>,
}

impl BombStream {
    fn new(point: Point) -> Self {
        BombStream {
            next: 0,
            panic_at: point.panic_at(),
        }
    }
}

impl Drop for BombStream {
    fn drop(&mut self) {
        explode();
    }
}

impl Stream for BombStream {
    type Item = Result<u32, RowError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.panic_at == Some(self.next) {
            panic!("{POLL_PANIC}");
        }
        if self.next == 2 {
            return Poll::Ready(None);
        }
        self.next += 1;
        Poll::Ready(Some(Ok(self.next - 1)))
    }
}

const STREAM: &str = "drops-stream";
const RECOVER_STREAM: &str = "drops-recover-stream";

fn guard_stream(point: Point) -> mruntime::GuardedStream<BombStream> {
    mruntime::guard_stream(STREAM, "rows", KeepRunning, BombStream::new(point))
}

#[mruntime::recover(component = "drops-recover-stream", name = "rows")]
fn recover_stream(point: Point) -> impl Stream<Item = Result<u32, RowError>> + Send {
    BombStream::new(point)
}

/// What each point must yield: the items, then the end (`None`) where the stream is polled to
/// it.
fn expected_items(point: Point) -> Vec<Option<Result<u32, RowError>>> {
    match point {
        Point::Unpolled => vec![],
        Point::AtEnd => vec![Some(Ok(0)), Some(Ok(1)), None, None],
        Point::AfterPollPanic => vec![
            Some(Ok(0)),
            Some(Err(RowError(POLL_PANIC.into()))),
            None,
            None,
        ],
        Point::Midway => vec![Some(Ok(0))],
    }
}

/// Polls `stream` as `point` says; records every poll's answer (two after the end).
fn consume_stream<St: Stream + ?Sized>(
    mut stream: Pin<&mut St>,
    point: Point,
) -> Vec<Option<St::Item>> {
    let mut seen = Vec::new();
    let polls = match point {
        Point::Unpolled => 0,
        Point::Midway => 1,
        Point::AtEnd | Point::AfterPollPanic => 10,
    };
    let mut ended = 0;
    for _ in 0..polls {
        let Poll::Ready(item) = stream.as_mut().poll_next(&mut no_op_cx()) else {
            panic!("the stream was pending");
        };
        ended += usize::from(item.is_none());
        seen.push(item);
        if ended == 2 {
            break;
        }
    }
    seen
}

fn recover_stream_boxed(point: Point) -> Pin<Box<dyn Stream<Item = Result<u32, RowError>> + Send>> {
    Box::pin(recover_stream(point))
}

#[test]
fn a_stream_whose_drop_panics_is_dropped_in_its_guard_at_every_point_in_every_place() {
    let _turn = turn();
    keep_reports();
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();
    let mut cases = 0;
    for point in POINTS {
        for place in PLACES {
            let case = format!("guard_stream {point:?} in {place:?}");
            let seen = assert_reported_once(&capture, STREAM, &point.reported(), &case, || {
                in_place(&rt, place, guard_stream, point, consume_stream)
            });
            assert_eq!(seen, expected_items(point), "{case}: items");

            let case = format!("#[recover] stream {point:?} in {place:?}");
            let seen =
                assert_reported_once(&capture, RECOVER_STREAM, &point.reported(), &case, || {
                    in_place(&rt, place, recover_stream_boxed, point, |s, p| {
                        consume_stream(s.get_mut().as_mut(), p)
                    })
                });
            assert_eq!(seen, expected_items(point), "{case}: items");
            cases += 2;
        }
    }
    assert_eq!(cases, 48);
}

// ---------------------------------------------------------------------------------------------
// Futures

/// Pending at its first poll, then ready with 7; panics at poll `panic_at`; its `Drop` panics.
struct BombFuture {
    polls: u32,
    panic_at: Option<u32>,
}

impl BombFuture {
    fn new(point: Point) -> Self {
        BombFuture {
            polls: 0,
            panic_at: point.panic_at(),
        }
    }
}

impl Drop for BombFuture {
    fn drop(&mut self) {
        explode();
    }
}

impl Future for BombFuture {
    type Output = u32;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        let poll = self.polls;
        self.polls += 1;
        if self.panic_at == Some(poll) {
            panic!("{POLL_PANIC}");
        }
        if poll == 0 {
            Poll::Pending
        } else {
            Poll::Ready(7)
        }
    }
}

const FUTURE: &str = "drops-future";
const RECOVER_FUTURE: &str = "drops-recover-future";

type Guarded<F> = mruntime::GuardedFuture<F, &'static Site>;

fn guard_future(point: Point) -> mruntime::GuardedFuture<BombFuture> {
    mruntime::guard_future(FUTURE, "call", KeepRunning, BombFuture::new(point))
}

/// What `#[recover]` on an async fn emits, around the future.
fn recover_future(point: Point) -> Guarded<BombFuture> {
    static SITE: Site = Site::new(RECOVER_FUTURE, "call", KeepRunning);
    mruntime::__private::guard_async(&SITE, BombFuture::new(point))
}

/// Polls `future` as `point` says: `None` while it has not resolved.
fn consume_future<F>(mut future: Pin<&mut F>, point: Point) -> Option<Result<u32, String>>
where
    F: Future<Output = Result<u32, Panicked>>,
{
    let polls = match point {
        Point::Unpolled => 0,
        Point::Midway => 1,
        Point::AtEnd | Point::AfterPollPanic => 3,
    };
    for _ in 0..polls {
        if let Poll::Ready(output) = future.as_mut().poll(&mut no_op_cx()) {
            return Some(output.map_err(|p| p.message().to_owned()));
        }
    }
    None
}

/// What each point must resolve to: the output even when the drop at the end panicked.
fn expected_output(point: Point) -> Option<Result<u32, String>> {
    match point {
        Point::Unpolled | Point::Midway => None,
        Point::AtEnd => Some(Ok(7)),
        Point::AfterPollPanic => Some(Err(POLL_PANIC.into())),
    }
}

#[test]
fn a_future_whose_drop_panics_is_dropped_in_its_guard_at_every_point_in_every_place() {
    let _turn = turn();
    keep_reports();
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();
    let mut cases = 0;
    for point in POINTS {
        for place in PLACES {
            let case = format!("guard_future {point:?} in {place:?}");
            let seen = assert_reported_once(&capture, FUTURE, &point.reported(), &case, || {
                in_place(&rt, place, guard_future, point, consume_future)
            });
            assert_eq!(seen, expected_output(point), "{case}: output");

            let case = format!("#[recover] async {point:?} in {place:?}");
            let seen =
                assert_reported_once(&capture, RECOVER_FUTURE, &point.reported(), &case, || {
                    in_place(&rt, place, recover_future, point, consume_future)
                });
            assert_eq!(seen, expected_output(point), "{case}: output");
            cases += 2;
        }
    }
    assert_eq!(cases, 48);
}

// ---------------------------------------------------------------------------------------------
// Response bodies

/// Two data frames, then the end; panics at poll `panic_at`; its `Drop` panics.
struct BombBody {
    next: u32,
    panic_at: Option<u32>,
}

impl Drop for BombBody {
    fn drop(&mut self) {
        explode();
    }
}

impl Body for BombBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.panic_at == Some(self.next) {
            panic!("{POLL_PANIC}");
        }
        if self.next == 2 {
            return Poll::Ready(None);
        }
        self.next += 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"row")))))
    }
}

const BODY: &str = "drops-body";

type GuardedBody = mruntime::tower::RecoverBody<BombBody>;

/// The body a handler under `RecoverLayer` answered with: guarded by the layer (its site is the
/// body's), polled and dropped wherever the response goes.
fn guarded_body(point: Point) -> GuardedBody {
    let mut service =
        RecoverLayer::new(BODY)
            .name("http")
            .layer(service_fn(move |_: Request<()>| async move {
                Ok::<_, Infallible>(Response::new(BombBody {
                    next: 0,
                    panic_at: point.panic_at(),
                }))
            }));
    let mut future = Box::pin(service.call(Request::new(())));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut no_op_cx()) else {
        panic!("the handler answers at once");
    };
    response.into_body()
}

/// Polls `body` as `point` says; records each frame's kind (two polls after the end).
fn consume_body(mut body: Pin<&mut GuardedBody>, point: Point) -> Vec<&'static str> {
    let polls = match point {
        Point::Unpolled => 0,
        Point::Midway => 1,
        Point::AtEnd | Point::AfterPollPanic => 10,
    };
    let mut seen = Vec::new();
    let mut ended = 0;
    for _ in 0..polls {
        let Poll::Ready(frame) = body.as_mut().poll_frame(&mut no_op_cx()) else {
            panic!("the body was pending");
        };
        seen.push(match frame {
            None => "end",
            Some(Ok(frame)) if frame.is_data() => "data",
            Some(Ok(_)) => "trailers",
            Some(Err(error)) if error.is::<BodyPanicked>() => "panicked",
            Some(Err(_)) => "error",
        });
        ended += usize::from(seen.last() == Some(&"end"));
        if ended == 2 {
            break;
        }
    }
    seen
}

/// What each point must yield: an aborted body (`BodyPanicked`) after a poll panic only.
fn expected_frames(point: Point) -> Vec<&'static str> {
    match point {
        Point::Unpolled => vec![],
        Point::AtEnd => vec!["data", "data", "end", "end"],
        Point::AfterPollPanic => vec!["data", "panicked", "end", "end"],
        Point::Midway => vec!["data"],
    }
}

#[test]
fn a_body_whose_drop_panics_is_dropped_in_its_guard_at_every_point_in_every_place() {
    let _turn = turn();
    keep_reports();
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();
    let mut cases = 0;
    for point in POINTS {
        for place in PLACES {
            let case = format!("body {point:?} in {place:?}");
            let seen = assert_reported_once(&capture, BODY, &point.reported(), &case, || {
                in_place(&rt, place, guarded_body, point, consume_body)
            });
            assert_eq!(seen, expected_frames(point), "{case}: frames");
            cases += 1;
        }
    }
    assert_eq!(cases, 24);
}
