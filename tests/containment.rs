//! Nothing of a payload escapes, nothing recurses, and a `Panicked` you hold has been reported:
//! payloads whose own `Drop` panics, reporters and subscribers that recover panics themselves,
//! futures whose `Drop` panics when a task is aborted or a guarded future is dropped.
//!
//! The reporter is process-wide, so these tests take turns.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};

use mruntime::PanicPolicy::KeepRunning;
use mruntime::{ErrorReporter, Panicked, TaskError};
use mruntime_tests::{Capture, keep_reports, reports_of};
use tracing::span::Id;
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A payload whose own `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's drop");
    }
}

#[mruntime::recover(component = "payload-drop", name = "unit")]
fn panics_with_a_bomb() {
    std::panic::panic_any(Bomb)
}

#[test]
fn a_payload_whose_drop_panics_does_not_escape_a_keep_running_guard() {
    let _turn = turn();

    // `#[recover] fn() -> ()` discards its `Panicked`, dropping the payload.
    let call = catch_unwind(panics_with_a_bomb);
    assert!(call.is_ok(), "the payload's drop escaped the guard");

    // And a `Panicked` dropped by the caller.
    let dropped = catch_unwind(|| {
        let err = mruntime::guard("payload-drop", "result", KeepRunning, || {
            std::panic::panic_any(Bomb)
        })
        .unwrap_err();
        drop(err);
    });
    assert!(dropped.is_ok(), "dropping the Panicked panicked");
}

#[test]
fn into_payload_still_hands_out_the_payload() {
    let _turn = turn();
    let err = mruntime::guard("payload-drop", "into", KeepRunning, || {
        std::panic::panic_any(Bomb)
    })
    .unwrap_err();
    let payload = err.into_payload();
    assert!(payload.is::<Bomb>());
    // Its drop is now the caller's.
    assert!(catch_unwind(AssertUnwindSafe(move || drop(payload))).is_err());
}

struct BombReporter;

impl ErrorReporter for BombReporter {
    fn report(&self, _: &Panicked) {
        std::panic::panic_any(Bomb)
    }
}

#[test]
fn a_reporter_panicking_with_a_payload_whose_drop_panics_is_contained() {
    let _turn = turn();
    mruntime::set_error_reporter(BombReporter);
    let call = catch_unwind(|| {
        mruntime::guard("reporter-bomb", "n", KeepRunning, || panic!("recovered")).is_err()
    });
    mruntime::clear_error_reporter();
    assert!(matches!(call, Ok(true)), "the reporter's fault escaped");
}

#[derive(Clone, Default)]
struct RecoveringReporter(Arc<AtomicUsize>);

impl ErrorReporter for RecoveringReporter {
    fn report(&self, _: &Panicked) {
        self.0.fetch_add(1, Ordering::SeqCst);
        // A reporter that uses a guard whose work panics.
        let _ = mruntime::guard("reporter-inner", "n", KeepRunning, || {
            panic!("in the reporter")
        });
    }
}

#[test]
fn a_reporter_that_recovers_a_panic_itself_is_not_called_again_for_it() {
    let _turn = turn();
    let capture = Capture::new();
    let _default = capture.set_default();
    let reporter = RecoveringReporter::default();
    mruntime::set_error_reporter(reporter.clone());

    let result = mruntime::guard("reporter-outer", "n", KeepRunning, || panic!("outer"));
    mruntime::clear_error_reporter();

    assert!(result.is_err());
    assert_eq!(
        reporter.0.load(Ordering::SeqCst),
        1,
        "the reporter re-entered"
    );
    let values: Vec<String> = capture
        .panic_events()
        .iter()
        .map(|e| e.field("panic.value").unwrap_or_default().to_owned())
        .collect();
    // The inner panic is still logged (and counted), without the reporter.
    assert_eq!(values.len(), 2, "{values:?}");
    assert!(values.contains(&"outer".to_owned()));
    assert!(values.contains(&"in the reporter".to_owned()));
}

/// A layer whose `on_event` recovers a panic of its own through a guard.
struct RecoveringLayer(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for RecoveringLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        if event.metadata().target() == "mruntime" {
            self.0.fetch_add(1, Ordering::SeqCst);
            let _ = mruntime::guard("layer-inner", "n", KeepRunning, || panic!("in the layer"));
        }
    }
}

#[test]
fn a_subscriber_that_recovers_a_panic_itself_is_not_called_again_for_it() {
    let _turn = turn();
    keep_reports();
    let events = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry().with(RecoveringLayer(events.clone()));

    let result = tracing::subscriber::with_default(subscriber, || {
        mruntime::guard("layer-outer", "n", KeepRunning, || panic!("outer"))
    });

    assert!(result.is_err());
    assert_eq!(
        events.load(Ordering::SeqCst),
        1,
        "the subscriber re-entered"
    );
    // The inner panic still reaches the reporter.
    assert_eq!(reports_of("layer-outer").len(), 1);
    assert_eq!(reports_of("layer-inner").len(), 1);
}

/// A layer that panics when a guard's span is exited.
struct PanicsOnExit;

impl<S> Layer<S> for PanicsOnExit
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_exit(&self, id: &Id, ctx: LayerContext<'_, S>) {
        if ctx.span(id).is_some_and(|s| s.name() == "mruntime.guard") {
            panic!("on_exit");
        }
    }
}

#[test]
fn a_subscriber_panicking_in_on_exit_panics_in_the_caller_where_a_guard_around_it_recovers_it() {
    let _turn = turn();
    keep_reports();
    let subscriber = tracing_subscriber::registry().with(PanicsOnExit);

    let outer = tracing::subscriber::with_default(subscriber, || {
        // The span is exited after the inner guard returned: the fault is the caller's.
        catch_unwind(|| mruntime::guard("on-exit-inner", "n", KeepRunning, || 1))
    });

    assert_eq!(
        outer.unwrap_err().downcast_ref::<&str>(),
        Some(&"on_exit"),
        "the subscriber's panic reaches the caller"
    );
    assert!(reports_of("on-exit-inner").is_empty());
}

/// Held across an `.await`: its `Drop` panics when the future is dropped mid-flight.
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

#[test]
fn an_aborted_task_whose_future_panics_in_drop_is_reported_once() {
    let _turn = turn();
    keep_reports();
    let rt = current_thread();

    let outcome = rt.block_on(async {
        let handle = mruntime::spawn("abort-drop", "n", KeepRunning, async {
            let _held = PanicsOnDrop("dropped mid-flight");
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await; // the task starts and waits
        handle.abort();
        handle.await
    });

    // The task was aborted; its drop's panic was recovered and reported by its guard.
    assert!(matches!(outcome, Err(TaskError::Cancelled)), "{outcome:?}");
    let reports = reports_of("abort-drop");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, "dropped mid-flight");
    assert!(reports[0].line.is_some());
    assert!(!reports[0].caught_elsewhere);
}

#[test]
fn a_detached_task_dropped_by_its_runtimes_shutdown_reports_its_drops_panic() {
    let _turn = turn();
    keep_reports();
    let rt = current_thread();

    rt.block_on(async {
        mruntime::spawn("detached-drop", "n", KeepRunning, async {
            let _held = PanicsOnDrop("dropped at shutdown");
            std::future::pending::<()>().await;
        })
        .detach();
        tokio::task::yield_now().await;
    });
    drop(rt);

    let reports = reports_of("detached-drop");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, "dropped at shutdown");
}

#[mruntime::recover(component = "future-drop", name = "handler")]
async fn handler() -> Option<u32> {
    let _held = PanicsOnDrop("request dropped");
    std::future::pending::<()>().await;
    Some(1)
}

#[test]
fn a_guarded_future_dropped_mid_flight_recovers_its_drops_panic() {
    let _turn = turn();
    keep_reports();

    let dropped = catch_unwind(|| {
        let mut future = Box::pin(handler());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        drop(future); // the server dropped the request
    });

    assert!(
        dropped.is_ok(),
        "the drop's panic escaped the guarded future"
    );
    let reports = reports_of("future-drop");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, "request dropped");
}

#[test]
fn a_supervised_attempt_aborted_with_a_panicking_drop_is_reported_once() {
    let _turn = turn();
    keep_reports();
    let rt = current_thread();

    let outcome = rt.block_on(async {
        let handle = mruntime::Task::new("supervised-drop", "n")
            .restart(mruntime::RestartPolicy::from_millis(3, 60_000, 1, 10))
            .spawn(|_ctx| async {
                let _held = PanicsOnDrop("attempt dropped");
                std::future::pending::<()>().await;
            });
        tokio::task::yield_now().await;
        handle.abort();
        handle.await
    });

    assert!(matches!(outcome, Err(TaskError::Cancelled)), "{outcome:?}");
    let reports = reports_of("supervised-drop");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, "attempt dropped");
    assert_eq!(reports[0].attempt, 1);
}

/// A layer that panics the first time a task's span is entered: a panic outside the task's
/// guard, which tokio catches and hands to the `TaskHandle`.
struct PanicsOnFirstEnter(AtomicUsize);

impl<S> Layer<S> for PanicsOnFirstEnter
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        if ctx.span(id).is_some_and(|s| s.name() == "mruntime.task")
            && self.0.fetch_add(1, Ordering::SeqCst) == 0
        {
            panic!("on_enter");
        }
    }
}

#[test]
fn a_task_panic_that_escaped_its_guard_is_reported_when_its_handle_yields_it() {
    let _turn = turn();
    keep_reports();
    let subscriber = tracing_subscriber::registry().with(PanicsOnFirstEnter(AtomicUsize::new(0)));
    let _default = tracing::subscriber::set_default(subscriber);
    let rt = current_thread();

    let outcome =
        rt.block_on(async { mruntime::spawn("escaped-task", "n", KeepRunning, async { 5 }).await });

    let Err(TaskError::Panicked(panicked)) = outcome else {
        panic!("expected the escaped panic, got {outcome:?}");
    };
    assert_eq!(panicked.message(), "on_enter");
    let reports = reports_of("escaped-task");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, "on_enter");
}

#[test]
fn pinned_futures_are_polled_in_place() {
    // The drop guard keeps the inner future pinned: a self-referential future still works.
    let _turn = turn();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt.block_on(mruntime::guard_future("pinned", "n", KeepRunning, async {
        let data = [1u8, 2, 3];
        let borrowed = &data;
        tokio::task::yield_now().await;
        let fut = pin!(async { borrowed.iter().map(|&b| u32::from(b)).sum::<u32>() });
        fut.await
    }));
    assert_eq!(out.unwrap(), 6);
}

#[test]
fn a_crash_process_task_whose_drop_panics_when_aborted_ends_the_process() {
    if mruntime_tests::child_scenario().as_deref() == Some("crash-on-drop") {
        let rt = current_thread();
        rt.block_on(async {
            let handle = mruntime::spawn(
                "crash-drop",
                "n",
                mruntime::PanicPolicy::CrashProcess,
                async {
                    let _held = PanicsOnDrop("dropped in a critical section");
                    std::future::pending::<()>().await;
                },
            );
            tokio::task::yield_now().await;
            handle.abort();
            let _ = handle.await;
        });
        println!("survived");
        return;
    }
    let child = mruntime_tests::run_child(
        "a_crash_process_task_whose_drop_panics_when_aborted_ends_the_process",
        "crash-on-drop",
    );
    assert!(child.aborted(), "{:?}\n{}", child.status, child.stderr);
    assert!(!child.stdout.contains("survived"));
    assert!(
        child.stderr.contains("dropped in a critical section"),
        "{}",
        child.stderr
    );
}

#[test]
fn a_leaked_payload_is_told_on_stderr_once() {
    if mruntime_tests::child_scenario().as_deref() == Some("leak-line") {
        panics_with_a_bomb();
        return;
    }
    let child = mruntime_tests::run_child("a_leaked_payload_is_told_on_stderr_once", "leak-line");
    assert!(
        child.status.success(),
        "{:?}\n{}",
        child.status,
        child.stderr
    );
    let told = "mruntime: dropping a panic payload panicked; the payload was leaked";
    assert_eq!(child.stderr.matches(told).count(), 1, "{}", child.stderr);
    // The payload's own panic is not printed raw by the default hook.
    assert!(
        !child.stderr.contains("the payload's drop"),
        "{}",
        child.stderr
    );
}

/// Ready at once, and its `Drop` panics.
struct ReadyThenPanicsOnDrop;

impl std::future::Future for ReadyThenPanicsOnDrop {
    type Output = u32;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> std::task::Poll<u32> {
        std::task::Poll::Ready(1)
    }
}

impl Drop for ReadyThenPanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped after ready");
    }
}

#[test]
fn a_completed_future_whose_drop_panics_keeps_its_output_and_reports_the_drop_once() {
    let _turn = turn();
    keep_reports();
    let out = catch_unwind(|| {
        let mut future = pin!(mruntime::guard_future(
            "ready-drop",
            "n",
            KeepRunning,
            ReadyThenPanicsOnDrop
        ));
        let mut cx = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(result) => result.map_err(|p| p.message().to_owned()),
            std::task::Poll::Pending => Ok(0),
        }
    });
    // The output was written before the drop at its end: the drop's panic does not lose it.
    assert_eq!(out.unwrap(), Ok(1));
    let reports = reports_of("ready-drop");
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert_eq!(reports[0].message, "dropped after ready");
}

/// A current-thread runtime with its drivers, as the tests here run their tasks on.
fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
