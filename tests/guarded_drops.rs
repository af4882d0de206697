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
use mruntime::PanicPolicy::{CrashProcess, KeepRunning};
use mruntime::tower::{BodyPanicked, RecoverLayer};
use mruntime::{Panicked, Site};
use mruntime_tests::{Capture, child_scenario, keep_reports, reports_of, run_child};
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

/// Runs every case (a name and its check), then fails naming each case that failed.
fn run_cases(cases: Vec<(String, Box<dyn FnOnce() + '_>)>) {
    let total = cases.len();
    let mut failed = Vec::new();
    for (case, check) in cases {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(check)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failed.push(format!("{case}: {message}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {total} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
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
    let mut cases: Vec<(String, Box<dyn FnOnce()>)> = Vec::new();
    for point in POINTS {
        for place in PLACES {
            let (capture, rt) = (&capture, &rt);
            let case = format!("guard_stream {point:?} in {place:?}");
            cases.push((
                case.clone(),
                Box::new(move || {
                    let seen =
                        assert_reported_once(capture, STREAM, &point.reported(), &case, || {
                            in_place(rt, place, guard_stream, point, consume_stream)
                        });
                    assert_eq!(seen, expected_items(point), "{case}: items");
                }),
            ));
            let case = format!("#[recover] stream {point:?} in {place:?}");
            cases.push((
                case.clone(),
                Box::new(move || {
                    let seen = assert_reported_once(
                        capture,
                        RECOVER_STREAM,
                        &point.reported(),
                        &case,
                        || {
                            in_place(rt, place, recover_stream_boxed, point, |s, p| {
                                consume_stream(s.get_mut().as_mut(), p)
                            })
                        },
                    );
                    assert_eq!(seen, expected_items(point), "{case}: items");
                }),
            ));
        }
    }
    assert_eq!(cases.len(), 48);
    run_cases(cases);
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
    let mut cases: Vec<(String, Box<dyn FnOnce()>)> = Vec::new();
    for point in POINTS {
        for place in PLACES {
            let (capture, rt) = (&capture, &rt);
            let case = format!("guard_future {point:?} in {place:?}");
            cases.push((
                case.clone(),
                Box::new(move || {
                    let seen =
                        assert_reported_once(capture, FUTURE, &point.reported(), &case, || {
                            in_place(rt, place, guard_future, point, consume_future)
                        });
                    assert_eq!(seen, expected_output(point), "{case}: output");
                }),
            ));
            let case = format!("#[recover] async {point:?} in {place:?}");
            cases.push((
                case.clone(),
                Box::new(move || {
                    let seen = assert_reported_once(
                        capture,
                        RECOVER_FUTURE,
                        &point.reported(),
                        &case,
                        || in_place(rt, place, recover_future, point, consume_future),
                    );
                    assert_eq!(seen, expected_output(point), "{case}: output");
                }),
            ));
        }
    }
    assert_eq!(cases.len(), 48);
    run_cases(cases);
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
    let mut cases: Vec<(String, Box<dyn FnOnce()>)> = Vec::new();
    for point in POINTS {
        for place in PLACES {
            let (capture, rt) = (&capture, &rt);
            let case = format!("body {point:?} in {place:?}");
            cases.push((
                case.clone(),
                Box::new(move || {
                    let seen =
                        assert_reported_once(capture, BODY, &point.reported(), &case, || {
                            in_place(rt, place, guarded_body, point, consume_body)
                        });
                    assert_eq!(seen, expected_frames(point), "{case}: frames");
                }),
            ));
        }
    }
    assert_eq!(cases.len(), 24);
    run_cases(cases);
}

/// An empty body (`is_end_stream` at once) whose `Drop` panics: still guarded.
struct EmptyBombBody;

impl Drop for EmptyBombBody {
    fn drop(&mut self) {
        explode();
    }
}

impl Body for EmptyBombBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }
}

#[test]
fn an_empty_body_whose_drop_panics_is_guarded_too() {
    let _turn = turn();
    keep_reports();
    let capture = Capture::new();
    let _guard = capture.set_default();
    let mut service = RecoverLayer::new(BODY).layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(EmptyBombBody))
    }));
    assert_reported_once(&capture, BODY, &[DROP_PANIC], "empty body", || {
        let mut future = Box::pin(service.call(Request::new(())));
        let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut no_op_cx()) else {
            panic!("the handler answers at once");
        };
        assert!(response.body().is_end_stream());
        catch_unwind(AssertUnwindSafe(move || drop(response)))
            .expect("the body's drop unwound into the server");
    });
}

// ---------------------------------------------------------------------------------------------
// A task's output, a supervised task's factory, a blocking job's closure

const TASKS: &str = "drops-task";
const OUTPUT_PANIC: &str = "drop of the task's output failed";
const FACTORY_PANIC: &str = "drop of the task's factory failed";

/// A task's output whose `Drop` panics.
#[derive(Debug)]
struct BombOutput;

impl Drop for BombOutput {
    fn drop(&mut self) {
        if std::thread::panicking() {
            DROPPED_WHILE_UNWINDING.fetch_add(1, Ordering::SeqCst);
        } else {
            panic!("{OUTPUT_PANIC}");
        }
    }
}

/// What a supervised task's factory captures: its `Drop` panics.
struct BombCapture;

impl Drop for BombCapture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            DROPPED_WHILE_UNWINDING.fetch_add(1, Ordering::SeqCst);
        } else {
            panic!("{FACTORY_PANIC}");
        }
    }
}

/// Every way to start a guarded task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// `mruntime::spawn`.
    Function,
    SafeGo,
    /// `mruntime::spawn_blocking`.
    FunctionBlocking,
    Task,
    TaskBlocking,
    Supervised,
    SupervisedBlocking,
}

const STARTS: [Start; 7] = [
    Start::Function,
    Start::SafeGo,
    Start::FunctionBlocking,
    Start::Task,
    Start::TaskBlocking,
    Start::Supervised,
    Start::SupervisedBlocking,
];

/// What becomes of the task's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// The handle is detached before the task ends: tokio drops the output at the end.
    Detached,
    /// The handle is dropped, by code outside every guard, after the task ended.
    DroppedAfterEnd,
    /// The handle is awaited: the output is the caller's, and so is its drop.
    Awaited,
}

const FATES: [Fate; 3] = [Fate::Detached, Fate::DroppedAfterEnd, Fate::Awaited];

impl Start {
    fn start(self) -> mruntime::TaskHandle<BombOutput> {
        let restart = mruntime::RestartPolicy::from_millis(3, 60_000, 1, 10);
        match self {
            Start::Function => mruntime::spawn(TASKS, "spawn", KeepRunning, async { BombOutput }),
            Start::SafeGo => {
                mruntime::safe_go!(component = "drops-task", name = "safe_go", async {
                    BombOutput
                })
            }
            Start::FunctionBlocking => {
                mruntime::spawn_blocking(TASKS, "spawn_blocking", KeepRunning, || BombOutput)
            }
            Start::Task => mruntime::Task::new(TASKS, "task").spawn(|_| async { BombOutput }),
            Start::TaskBlocking => {
                mruntime::Task::new(TASKS, "task_blocking").spawn_blocking(|_| BombOutput)
            }
            Start::Supervised => {
                let held = BombCapture;
                mruntime::Task::new(TASKS, "supervised")
                    .restart(restart)
                    .spawn(move |_| {
                        let _held = &held;
                        async { BombOutput }
                    })
            }
            Start::SupervisedBlocking => {
                let held = BombCapture;
                mruntime::Task::new(TASKS, "supervised_blocking")
                    .restart(restart)
                    .spawn_blocking(move |_| {
                        let _held = &held;
                        BombOutput
                    })
            }
        }
    }

    /// The panics its end reports: the factory's drop for a supervised task, the output's when
    /// nobody takes it.
    fn reported(self, fate: Fate) -> Vec<&'static str> {
        let mut reported = Vec::new();
        if matches!(self, Start::Supervised | Start::SupervisedBlocking) {
            reported.push(FACTORY_PANIC);
        }
        if fate != Fate::Awaited {
            reported.push(OUTPUT_PANIC);
        }
        reported
    }
}

/// Runs `rt` until `component` has `count` reports (bounded: a blocking thread may take a
/// moment to drop what it ran).
fn until_reported(rt: &tokio::runtime::Runtime, component: &str, count: usize) {
    rt.block_on(async {
        for _ in 0..400 {
            if reports_of(component).len() >= count {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn what_a_task_leaves_behind_is_dropped_in_its_guard_whoever_lets_go_of_it() {
    let _turn = turn();
    keep_reports();
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();
    let mut cases: Vec<(String, Box<dyn FnOnce()>)> = Vec::new();
    for spawn in STARTS {
        for fate in FATES {
            let (capture, rt) = (&capture, &rt);
            let case = format!("{spawn:?}, output {fate:?}");
            cases.push((
                case.clone(),
                Box::new(move || {
                    let expected = spawn.reported(fate);
                    let mut reported: Vec<String> = Vec::new();
                    let before = reports_of(TASKS).len();
                    let events_before = capture.panic_events().len();
                    match fate {
                        Fate::Detached => {
                            let _entered = rt.enter();
                            spawn.start().detach();
                        }
                        Fate::DroppedAfterEnd => {
                            let handle = {
                                let _entered = rt.enter();
                                spawn.start()
                            };
                            rt.block_on(async {
                                for _ in 0..400 {
                                    if handle.is_finished() {
                                        break;
                                    }
                                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                }
                            });
                            assert!(handle.is_finished(), "{case}: the task did not end");
                            catch_unwind(AssertUnwindSafe(move || drop(handle)))
                                .expect("the output's drop unwound into unguarded code");
                        }
                        Fate::Awaited => {
                            let output = rt
                                .block_on(async { spawn.start().await })
                                .expect("the task ended with its output");
                            // The caller's own drop: not ours to guard, and not reported.
                            let dropped = catch_unwind(AssertUnwindSafe(move || drop(output)));
                            assert!(dropped.is_err(), "{case}: the caller drops its output");
                        }
                    }
                    until_reported(rt, TASKS, before + expected.len());
                    // Let a late (wrong) report show up.
                    rt.block_on(async {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await
                    });
                    reported.extend(
                        reports_of(TASKS)[before..]
                            .iter()
                            .map(|r| r.message.clone()),
                    );
                    reported.sort();
                    let mut expected: Vec<String> =
                        expected.iter().map(|m| (*m).to_owned()).collect();
                    expected.sort();
                    assert_eq!(reported, expected, "{case}: reports");
                    let events = capture.panic_events().len() - events_before;
                    assert_eq!(events, expected.len(), "{case}: panic.recovered events");
                }),
            ));
        }
    }
    assert_eq!(cases.len(), 21);
    run_cases(cases);
    assert_eq!(DROPPED_WHILE_UNWINDING.load(Ordering::SeqCst), 0);
}

#[test]
fn a_blocking_job_the_runtime_drops_before_it_starts_drops_its_closure_in_its_guard() {
    const QUEUED: &str = "drops-queued";
    let _turn = turn();
    keep_reports();
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (started, has_started) = std::sync::mpsc::channel::<()>();
    {
        let _entered = rt.enter();
        // Holds the one blocking thread until released.
        mruntime::spawn_blocking(QUEUED, "holder", KeepRunning, move || {
            let _ = started.send(());
            let _ = released.recv_timeout(std::time::Duration::from_secs(10));
        })
        .detach();
        has_started
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the holder started");
        let held = BombCapture;
        mruntime::spawn_blocking(QUEUED, "queued", KeepRunning, move || {
            let _held = &held;
        })
        .detach();
    }
    rt.shutdown_background();
    let _ = release.send(());
    for _ in 0..400 {
        if !reports_of(QUEUED).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(20));
    let reports = reports_of(QUEUED);
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, FACTORY_PANIC);
    assert_eq!(reports[0].name, "queued");
}

// ---------------------------------------------------------------------------------------------
// A drop-bomb payload, and the policy

/// A panic payload whose own `Drop` panics.
struct PayloadBomb;

impl Drop for PayloadBomb {
    fn drop(&mut self) {
        panic!("the payload's drop");
    }
}

/// Yields `Ok(0)`, then panics with a [`PayloadBomb`]; its `Drop` panics.
struct BombPayloadStream(u32);

impl Drop for BombPayloadStream {
    fn drop(&mut self) {
        explode();
    }
}

impl Stream for BombPayloadStream {
    type Item = Result<u32, RowError>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.0 == 1 {
            std::panic::panic_any(PayloadBomb);
        }
        self.0 += 1;
        Poll::Ready(Some(Ok(0)))
    }
}

#[test]
fn a_drop_bomb_payload_and_a_drop_bomb_stream_still_give_the_last_item_then_the_end() {
    const COMPONENT: &str = "drops-payload";
    let _turn = turn();
    keep_reports();
    let seen = catch_unwind(|| {
        let mut stream = Box::pin(mruntime::guard_stream(
            COMPONENT,
            "rows",
            KeepRunning,
            BombPayloadStream(0),
        ));
        let seen = consume_stream(stream.as_mut(), Point::AfterPollPanic);
        drop(stream);
        seen
    })
    .expect("nothing unwinds into the consumer");
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[0], Some(Ok(0)));
    assert!(matches!(seen[1], Some(Err(_))), "{seen:?}");
    assert_eq!(seen[2..], [None, None]);
    let reports: Vec<String> = reports_of(COMPONENT)
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[1], DROP_PANIC);
}

#[test]
fn a_crash_process_stream_whose_drop_panics_at_its_end_ends_the_process_after_reporting() {
    if child_scenario().as_deref() == Some("crash_drop") {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        let mut stream = Box::pin(mruntime::guard_stream(
            "drops-crash",
            "journal",
            CrashProcess,
            BombStream::new(Point::AtEnd),
        ));
        let seen = consume_stream(stream.as_mut(), Point::AtEnd);
        println!("SURVIVED with {seen:?}");
        return;
    }
    let outcome = run_child(
        "a_crash_process_stream_whose_drop_panics_at_its_end_ends_the_process_after_reporting",
        "crash_drop",
    );
    assert!(outcome.aborted(), "expected SIGABRT: {outcome:#?}");
    assert!(!outcome.stdout.contains("SURVIVED"), "{outcome:#?}");
    let line = outcome
        .stderr
        .lines()
        .find(|l| l.contains("panic.recovered"))
        .unwrap_or_else(|| panic!("no panic.recovered line: {outcome:#?}"));
    assert!(line.contains(DROP_PANIC), "{line}");
    assert!(line.contains(r#"policy="CrashProcess""#), "{line}");
}
