//! `guard_stream` and the streams `#[recover]` will make (`__private::guard_stream_sync` and
//! `guard_stream_async`): the items before a panic, one last item made from the `Panicked`, then
//! the end; the panic reported once, in a span parented where the stream was made; under
//! `CrashProcess` the process ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use futures_core::stream::FusedStream;
use mruntime::PanicPolicy::{CrashProcess, KeepRunning};
use mruntime::{Panicked, Site};
use mruntime_tests::{Capture, child_scenario, run_child};

/// The error of the test streams: a recovered panic becomes its display.
#[derive(Debug, Clone, PartialEq)]
struct RowError(String);

impl From<Panicked> for RowError {
    fn from(panicked: Panicked) -> Self {
        RowError(panicked.to_string())
    }
}

/// Yields `Ok(0)`, `Ok(1)`, ... and panics when asked for item `panic_at`; records its drop.
struct Rows {
    next: u32,
    panic_at: u32,
    dropped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Rows {
    fn new(panic_at: u32) -> Rows {
        Rows {
            next: 0,
            panic_at,
            dropped: Default::default(),
        }
    }
}

impl Drop for Rows {
    fn drop(&mut self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Stream for Rows {
    type Item = Result<u32, RowError>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        assert!(self.next != self.panic_at, "row {} is corrupted", self.next);
        self.next += 1;
        Poll::Ready(Some(Ok(self.next - 1)))
    }
}

/// Polls `stream` to its end, at most `limit` items (a stream that never ends fails the test).
fn collect<S: Stream + Unpin>(mut stream: S, limit: usize) -> (Vec<S::Item>, S) {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut items = Vec::new();
    while let Poll::Ready(Some(item)) = Pin::new(&mut stream).poll_next(&mut cx) {
        items.push(item);
        assert!(items.len() <= limit, "the stream did not end");
    }
    (items, stream)
}

fn poll_once<S: Stream + Unpin>(stream: &mut S) -> Poll<Option<S::Item>> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    Pin::new(stream).poll_next(&mut cx)
}

#[test]
fn a_panic_ends_the_stream_with_one_item_made_from_the_panicked_reported_once() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rows = Rows::new(3);
    let dropped = rows.dropped.clone();
    let parent = tracing::info_span!("export.request");
    let stream = parent.in_scope(|| mruntime::guard_stream("ledger", "export", KeepRunning, rows));
    assert_eq!(stream.site().name(), "export");
    let (items, mut stream) = collect(stream, 10);

    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[..3], [Ok(0), Ok(1), Ok(2)]);
    let last = &items[3].as_ref().unwrap_err().0;
    assert!(last.starts_with("panic in ledger/export at "), "{last}");
    assert!(last.ends_with("row 3 is corrupted"), "{last}");
    // Ended for good, and the inner stream was dropped at the panic.
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    assert!(stream.is_terminated());
    assert_eq!(poll_once(&mut stream), Poll::Ready(None));
    assert_eq!(poll_once(&mut stream), Poll::Ready(None));

    let events = capture.panic_events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.field("component"), Some("ledger"));
    assert_eq!(event.field("goroutine_name"), Some("export"));
    assert_eq!(event.field("panic.value"), Some("row 3 is corrupted"));
    assert_eq!(event.scope[0].name, "mruntime.guard");
    assert_eq!(event.scope[1].name, "export.request");
}

#[test]
fn a_stream_that_does_not_panic_passes_through_and_reports_nothing() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let stream = mruntime::guard_stream(
        "ledger",
        "plain",
        KeepRunning,
        tokio_stream::iter([Ok(1), Err(RowError("a normal error".into())), Ok(3)]),
    );
    assert_eq!(Stream::size_hint(&stream), (3, Some(4)));
    let (items, stream) = collect(stream, 10);
    assert_eq!(
        items,
        [Ok(1), Err(RowError("a normal error".into())), Ok(3)]
    );
    assert!(stream.is_terminated());
    assert!(capture.panic_events().is_empty());
}

/// What `#[recover]` emits for `fn rows(..) -> impl Stream<..>`.
fn made_sync(panic_in_make: bool) -> impl Stream<Item = Result<u32, Panicked>> + Unpin {
    static SITE: Site = Site::new("ledger", "rows.sync", KeepRunning);
    mruntime::__private::guard_stream_sync(&SITE, move || {
        assert!(!panic_in_make, "no cursor to open");
        tokio_stream::iter([Ok(7)])
    })
}

#[test]
fn a_panic_while_making_the_stream_gives_a_stream_of_the_one_item() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let (items, _) = collect(made_sync(true), 10);
    assert_eq!(items.len(), 1);
    let panicked = items[0].as_ref().unwrap_err();
    assert_eq!(panicked.message(), "no cursor to open");
    assert_eq!(panicked.name(), "rows.sync");
    assert_eq!(capture.panic_events().len(), 1);

    let (items, _) = collect(made_sync(false), 10);
    assert_eq!(items.len(), 1);
    assert_eq!(*items[0].as_ref().unwrap(), 7);
    assert_eq!(capture.panic_events().len(), 1);
}

#[test]
fn an_async_fn_returning_a_stream_is_guarded_while_made_and_while_polled() {
    static SITE: Site = Site::new("ledger", "rows.async", KeepRunning);
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.current_thread_runtime();

    let made = rt.block_on(mruntime::__private::guard_stream_async(&SITE, async {
        tokio::task::yield_now().await;
        panic!("replica unreachable");
        #[allow(unreachable_code)]
        Rows::new(0)
    }));
    let (items, _) = collect(Box::pin(made), 10);
    assert_eq!(items.len(), 1);
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .0
            .ends_with("replica unreachable")
    );

    let polled = rt.block_on(mruntime::__private::guard_stream_async(&SITE, async {
        tokio::task::yield_now().await;
        Rows::new(1)
    }));
    let (items, _) = collect(Box::pin(polled), 10);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0], Ok(0));
    assert!(
        items[1]
            .as_ref()
            .unwrap_err()
            .0
            .ends_with("row 1 is corrupted")
    );

    let events = capture.panic_events();
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e.field("goroutine_name") == Some("rows.async"))
    );
}

#[test]
fn crash_process_stream_ends_the_process_after_reporting() {
    if let Some(scenario) = child_scenario() {
        assert_eq!(scenario, "crash_stream");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        let stream = mruntime::guard_stream("ledger", "journal", CrashProcess, Rows::new(1));
        let (items, _) = collect(stream, 10);
        println!("SURVIVED with {items:?}");
        return;
    }
    let outcome = run_child(
        "crash_process_stream_ends_the_process_after_reporting",
        "crash_stream",
    );
    assert!(outcome.aborted(), "expected SIGABRT: {outcome:#?}");
    assert!(!outcome.stdout.contains("SURVIVED"), "{outcome:#?}");
    let line = outcome
        .stderr
        .lines()
        .find(|l| l.contains("panic.recovered"))
        .unwrap_or_else(|| panic!("no panic.recovered line: {outcome:#?}"));
    assert!(line.contains("row 1 is corrupted"), "{line}");
    assert!(line.contains(r#"policy="CrashProcess""#), "{line}");
}
