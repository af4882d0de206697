//! What `#[safe_task(restart(..), group = ..)]` with a `ctx: TaskContext` argument and
//! `safe_go!(restart(..), group = .., context = .., |ctx| ..)` do at run time: the policy written
//! in the attribute is the one applied (its durations parsed at compile time), every attempt
//! gets fresh clones of the arguments and its own context, the group shuts the task down, and
//! the parent context cancels it. Timing runs on tokio's paused clock: deterministic.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use mruntime::{TaskContext, TaskError, TaskGroup, safe_go, safe_task};
use mruntime_tests::settle;
use mruntime_tests::{Capture, site_names};
use tokio::time::Instant;

/// A value whose clones are counted, and which remembers what its attempt did to it.
#[derive(Debug)]
struct Tracked {
    clones: Arc<AtomicUsize>,
    items: Vec<u32>,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Tracked {
            clones: self.clones.clone(),
            items: self.items.clone(),
        }
    }
}

/// What each attempt received: (attempt, items).
type Seen = Arc<Mutex<Vec<(u32, Vec<u32>)>>>;

#[safe_task(
    component = "delivery",
    name = "processor",
    restart(max = 5, within = "60s", backoff = "100ms..10s")
)]
async fn processor(
    ctx: TaskContext,
    mut batch: Tracked,
    seen: Seen,
) -> (u32, &'static str, &'static str) {
    // What this attempt received, before it changes its copy.
    seen.lock()
        .unwrap()
        .push((ctx.attempt(), batch.items.clone()));
    batch.items.push(ctx.attempt());
    tokio::task::yield_now().await;
    if ctx.attempt() < 3 {
        panic!("attempt {} failed", ctx.attempt());
    }
    (ctx.attempt(), ctx.component(), ctx.name())
}

#[test]
fn a_task_that_panics_twice_is_restarted_with_fresh_clones_and_returns_from_attempt_3() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let clones = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let batch = Tracked {
        clones: clones.clone(),
        items: vec![7],
    };
    let (result, elapsed) = rt.block_on(async {
        let started = Instant::now();
        let result = processor(TaskContext::new(), batch, seen.clone()).await;
        (result, started.elapsed())
    });

    assert_eq!(result.unwrap(), (3, "delivery", "processor"));
    // Each attempt got the argument as the caller passed it, not what the last attempt left.
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, vec![7]), (2, vec![7]), (3, vec![7])]
    );
    assert_eq!(clones.load(Ordering::SeqCst), 3, "one clone per attempt");

    // The policy is the attribute's: backoff "100ms..10s" gives 100-200ms, then 200-400ms.
    let backoffs = capture.u64_fields("task.restarting", "backoff_ms");
    assert_eq!(backoffs.len(), 2, "{backoffs:?}");
    assert!((100..=200).contains(&backoffs[0]), "{backoffs:?}");
    assert!((200..=400).contains(&backoffs[1]), "{backoffs:?}");
    assert_eq!(elapsed, Duration::from_millis(backoffs.iter().sum()));
    assert_eq!(capture.u64_fields("panic.recovered", "attempt"), [1, 2]);
    for event in capture.panic_events() {
        assert_eq!(event.field("component"), Some("delivery"));
        assert_eq!(event.field("goroutine_name"), Some("processor"));
    }
    let attempts: Vec<String> = capture
        .spans_named("mruntime.attempt")
        .iter()
        .map(|s| s.fields["attempt"].clone())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    assert!(capture.events_named("task.gave_up").is_empty());
}

#[safe_task(
    component = "transaction",
    restart(max = 2, within = "1m", backoff = "10ms..20ms")
)]
async fn always_fails(ctx: TaskContext, runs: Arc<AtomicU32>) {
    runs.fetch_add(1, Ordering::SeqCst);
    panic!("attempt {} failed", ctx.attempt());
}

#[test]
fn a_task_past_its_max_restarts_gives_up_with_the_last_panic() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let runs = Arc::new(AtomicU32::new(0));
    let result = rt.block_on(async { always_fails(TaskContext::new(), runs.clone()).await });

    let Err(TaskError::Panicked(last)) = result else {
        panic!("expected the last panic, got {result:?}")
    };
    assert_eq!(last.attempt(), 3, "max = 2: two restarts, three runs");
    assert_eq!(last.message(), "attempt 3 failed");
    assert_eq!(
        (last.component(), last.name()),
        ("transaction", "always_fails")
    );
    assert_eq!(runs.load(Ordering::SeqCst), 3);

    let gave_up = capture.events_named("task.gave_up");
    assert_eq!(gave_up.len(), 1);
    // `within = "1m"` reached the runtime as 60 000 ms.
    assert_eq!(gave_up[0].field_u64("max_restarts"), 2);
    assert_eq!(gave_up[0].field_u64("within_ms"), 60_000);
    assert_eq!(gave_up[0].field_u64("attempt"), 3);
    let backoffs = capture.u64_fields("task.restarting", "backoff_ms");
    assert_eq!(backoffs.len(), 2);
    assert!(
        backoffs.iter().all(|b| (10..=20).contains(b)),
        "{backoffs:?}"
    );
    assert_eq!(capture.u64_fields("panic.recovered", "attempt"), [1, 2, 3]);
}

/// The group is an argument here: `group = ..` may use the function's arguments.
#[safe_task(
    component = "delivery",
    name = "queue-reader",
    group = workers,
    restart(max = 10, within = "1m", backoff = "10s..10s")
)]
async fn queue_reader(workers: TaskGroup, runs: Arc<AtomicU32>) {
    let _ = workers; // a clone of its group keeps the group alive: harmless here
    runs.fetch_add(1, Ordering::SeqCst);
    panic!("queue unreachable");
}

#[test]
fn group_shutdown_stops_a_task_sleeping_in_its_backoff_at_once() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let runs = Arc::new(AtomicU32::new(0));
    let (report, elapsed, result) = rt.block_on(async {
        let group = TaskGroup::new();
        let handle = queue_reader(group.clone(), runs.clone());
        settle().await; // attempt 1 panicked; the task sleeps its 10s backoff
        tokio::time::sleep(Duration::from_millis(9_990)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "still in the 10s backoff");
        assert_eq!(site_names(&group.active()), ["delivery/queue-reader"]);

        let before = Instant::now();
        let report = group.shutdown(Duration::from_secs(30)).await;
        (report, before.elapsed(), handle.await)
    });
    assert_eq!(elapsed, Duration::ZERO, "the backoff sleep ended at once");
    assert!(report.not_stopped().is_empty(), "{report}");
    assert_eq!(report.panicked().len(), 1);
    assert_eq!(report.panicked()[0].name(), "queue-reader");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "no restart after shutdown");
    let last = result.unwrap_err().into_panicked().unwrap();
    assert_eq!((last.attempt(), last.message()), (1, "queue unreachable"));
    // A restart is logged when it happens, after the backoff: there was none.
    assert!(capture.events_named("task.restarting").is_empty());
    assert!(capture.events_named("task.gave_up").is_empty());
}

#[safe_task(component = "cache", name = "refresher")]
async fn refresher(ctx: TaskContext) -> (&'static str, &'static str, u32, &'static str) {
    ctx.cancelled().await;
    (ctx.component(), ctx.name(), ctx.attempt(), "stopped")
}

#[tokio::test(start_paused = true)]
async fn the_body_receives_a_context_derived_from_the_argument() {
    let parent = TaskContext::new();
    let handle = refresher(parent.clone());
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!handle.is_finished(), "the task waits for its cancellation");

    parent.token().cancel(); // Go's cancel()
    let (component, name, attempt, outcome) = handle.await.unwrap();
    assert_eq!((component, name, attempt), ("cache", "refresher", 1));
    assert_eq!(outcome, "stopped");
    // The parent is a root context: it keeps its own identity.
    assert_eq!(
        (parent.component(), parent.name(), parent.attempt()),
        ("", "", 0)
    );
}

#[safe_task(component = "cache", name = "self-stopper")]
async fn self_stopper(ctx: TaskContext) -> bool {
    ctx.token().cancel(); // cancels the task's own token only
    ctx.is_cancelled()
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_task_context_does_not_cancel_the_parent() {
    let parent = TaskContext::new();
    assert!(self_stopper(parent.clone()).await.unwrap());
    assert!(!parent.is_cancelled());
}

static WORKERS: LazyLock<TaskGroup> = LazyLock::new(TaskGroup::new);

/// A blocking task on the blocking pool, supervised, in a `LazyLock<TaskGroup>` static.
#[safe_task(
    component = "reports",
    group = WORKERS,
    restart(max = 3, within = "1h", backoff = "50ms..50ms")
)]
fn render(ctx: TaskContext, rows: Vec<u32>) -> (u32, usize) {
    if ctx.attempt() == 1 {
        panic!("font missing");
    }
    (ctx.attempt(), rows.len())
}

#[test]
fn a_sync_task_is_restarted_on_the_blocking_pool_in_a_static_group() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let result = rt.block_on(async {
        let handle = render(TaskContext::new(), vec![1, 2, 3]);
        assert_eq!(site_names(&WORKERS.active()), ["reports/render"]);
        handle.await
    });
    assert_eq!(result.unwrap(), (2, 3));
    assert_eq!(capture.u64_fields("task.restarting", "backoff_ms"), [50]);
    assert_eq!(capture.u64_fields("panic.recovered", "attempt"), [1]);
    assert!(WORKERS.active().is_empty());
}

struct Service {
    workers: TaskGroup,
    runs: AtomicU32,
    label: String,
}

impl Service {
    /// A method taking `self: Arc<Self>`: the group comes from `self`, and each attempt gets a
    /// clone of the `Arc`.
    #[safe_task(
        component = "ledger",
        group = self.workers,
        restart(max = 3, within = "1m", backoff = "10ms..10ms")
    )]
    async fn reconcile(self: Arc<Self>, ctx: TaskContext) -> String {
        let run = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(run >= 2, "run {run} failed");
        ctx.cancelled().await;
        format!("{} stopped at attempt {}", self.label, ctx.attempt())
    }
}

#[test]
fn a_method_is_restarted_with_a_clone_of_its_arc_self_in_its_group() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let service = Arc::new(Service {
        workers: TaskGroup::new(),
        runs: AtomicU32::new(0),
        label: "reconciler".to_owned(),
    });
    let (report, result) = rt.block_on(async {
        let handle = service.clone().reconcile(TaskContext::new());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(site_names(&service.workers.active()), ["ledger/reconcile"]);
        let report = service.workers.shutdown(Duration::from_secs(5)).await;
        (report, handle.await)
    });
    assert!(report.is_clean(), "{report}");
    assert_eq!(result.unwrap(), "reconciler stopped at attempt 2");
    assert_eq!(service.runs.load(Ordering::SeqCst), 2);
    assert_eq!(capture.u64_fields("task.restarting", "backoff_ms"), [10]);
    // The task's clones of the Arc are gone with it.
    assert_eq!(Arc::strong_count(&service), 1);
}

#[test]
fn safe_go_with_restart_and_group_restarts_the_closure_and_stops_with_the_group() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let runs = Arc::new(AtomicU32::new(0));
    let (report, result) = rt.block_on(async {
        let workers = TaskGroup::new();
        let handle = safe_go!(
            component = "notification",
            name = "email-sender",
            group = workers,
            restart(max = 3, within = "1m", backoff = "50ms..50ms"),
            {
                let runs = runs.clone();
                move |ctx: TaskContext| {
                    let runs = runs.clone();
                    async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        if ctx.attempt() < 3 {
                            panic!("smtp down (attempt {})", ctx.attempt());
                        }
                        ctx.cancelled().await;
                        ctx.attempt()
                    }
                }
            }
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(site_names(&workers.active()), ["notification/email-sender"]);
        let report = workers.shutdown(Duration::from_secs(5)).await;
        (report, handle.await)
    });
    // It stopped when cancelled, and did not end by panic (its third attempt returned).
    assert!(report.is_clean(), "{report}");
    assert_eq!(result.unwrap(), 3);
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        capture.u64_fields("task.restarting", "backoff_ms"),
        [50, 50]
    );
    assert_eq!(capture.u64_fields("panic.recovered", "attempt"), [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn safe_go_closure_with_a_parent_context_is_cancelled_by_it() {
    let parent = TaskContext::new();
    let handle = safe_go!(
        component = "cache",
        name = "warmer",
        context = parent,
        |ctx| async move {
            ctx.cancelled().await;
            (ctx.name(), ctx.attempt())
        }
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!handle.is_finished());
    parent.token().cancel();
    assert_eq!(handle.await.unwrap(), ("warmer", 1));
}

#[tokio::test(start_paused = true)]
async fn safe_go_future_in_a_group_is_named_and_aborted_when_it_ignores_the_shutdown() {
    let workers = TaskGroup::new();
    let _ignored = safe_go!(
        component = "legacy",
        name = "poller",
        group = &workers,
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    );
    let done = safe_go!(
        component = "legacy",
        name = "once",
        group = &workers,
        async { 5 }
    );
    assert_eq!(done.await.unwrap(), 5);
    settle().await;
    assert_eq!(site_names(&workers.active()), ["legacy/poller"]);
    let report = workers.shutdown(Duration::from_secs(2)).await;
    assert_eq!(site_names(report.not_stopped()), ["legacy/poller"]);
}
