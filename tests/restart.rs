//! Supervised tasks restart after a panic with an exponential, jittered backoff, give up past
//! their restart intensity (then their policy applies), reset the backoff after a clean run, and
//! run each attempt in its own span. Timing runs on tokio's paused clock: deterministic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mruntime::PanicPolicy::{CrashProcess, KeepRunning};
use mruntime::{RestartPolicy, Task, TaskError};
use mruntime_tests::{Capture, child_scenario, run_child};
use tokio::time::Instant;

/// When each attempt started (paused clock), in order.
#[derive(Clone, Default)]
struct Starts(Arc<Mutex<Vec<Instant>>>);

impl Starts {
    fn record(&self) {
        self.0.lock().unwrap().push(Instant::now());
    }

    fn gaps_ms(&self) -> Vec<u64> {
        let starts = self.0.lock().unwrap();
        starts
            .windows(2)
            .map(|w| (w[1] - w[0]).as_millis() as u64)
            .collect()
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// The documented bounds of restart `n` (1-based since the last reset): "equal jitter" in
/// `[max(first, cap / 2), cap]`, `cap = min(second, first * 2^n)`.
fn documented_bounds(first: u64, second: u64, n: u32) -> (u64, u64) {
    let cap = first.max(1).saturating_mul(1 << n).min(second);
    ((cap / 2).max(first), cap)
}

#[test]
fn backoff_grows_exponentially_within_its_bounds_and_is_what_the_task_waited() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let starts = Starts::default();
    let recorder = starts.clone();
    let result = rt.block_on(async move {
        Task::new("delivery", "processor")
            .restart(RestartPolicy::from_millis(100, 3_600_000, 100, 2_000))
            .spawn(move |ctx| {
                recorder.record();
                async move {
                    if ctx.attempt() <= 8 {
                        panic!("attempt {} failed", ctx.attempt());
                    }
                    ctx.attempt()
                }
            })
            .await
    });
    assert_eq!(result.unwrap(), 9);

    let restarts = capture.events_named("task.restarting");
    assert_eq!(restarts.len(), 8);
    for (i, event) in restarts.iter().enumerate() {
        assert_eq!(event.level, tracing::Level::INFO);
        assert_eq!(event.target, "mruntime");
        assert_eq!(event.field("component"), Some("delivery"));
        assert_eq!(event.field("goroutine_name"), Some("processor"));
        assert_eq!(event.field_u64("attempt"), i as u64 + 2);
    }
    let backoffs = capture.u64_fields("task.restarting", "backoff_ms");
    for (n, backoff) in (1..).zip(&backoffs) {
        let (low, high) = documented_bounds(100, 2_000, n);
        assert!(
            (low..=high).contains(backoff),
            "restart {n}: {backoff}ms not in {low}..={high} ({backoffs:?})"
        );
    }
    // The sequence saturates at the second bound: restarts 5.. are drawn from 1000..=2000.
    assert!(backoffs[5..].iter().all(|b| (1000..=2000).contains(b)));
    // What the task really waited between attempts is the reported backoff.
    assert_eq!(starts.gaps_ms(), backoffs);

    let panics = capture.panic_events();
    let attempts: Vec<u64> = panics.iter().map(|e| e.field_u64("attempt")).collect();
    assert_eq!(attempts, (1..=8).collect::<Vec<_>>());
    assert!(capture.events_named("task.gave_up").is_empty());
}

#[test]
fn jitter_spreads_the_restarts_of_tasks_failing_together_within_the_bounds() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    rt.block_on(async {
        let handles: Vec<_> = (0..200)
            .map(|_| {
                Task::new("cache", "refresher")
                    .restart(RestartPolicy::from_millis(3, 60_000, 100, 10_000))
                    .spawn(|ctx| async move {
                        assert!(ctx.attempt() > 1, "dependency down");
                    })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    let backoffs = capture.u64_fields("task.restarting", "backoff_ms");
    assert_eq!(backoffs.len(), 200);
    assert!(
        backoffs.iter().all(|b| (100..=200).contains(b)),
        "{backoffs:?}"
    );
    let distinct: std::collections::BTreeSet<_> = backoffs.iter().collect();
    // 200 draws over 101 values: without jitter there would be one.
    assert!(distinct.len() > 50, "{} distinct delays", distinct.len());
}

#[test]
fn more_than_max_restarts_within_the_window_gives_up_with_the_last_panic() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let started = rt.block_on(async { Instant::now() });
    let (result, ended) = rt.block_on(async {
        let result = Task::new("transaction", "balance-sync")
            .policy(KeepRunning)
            .restart(RestartPolicy::from_millis(3, 60_000, 100, 1_000))
            .spawn(|ctx| async move { panic!("attempt {} failed", ctx.attempt()) })
            .await;
        (result, Instant::now())
    });
    let Err(TaskError::Panicked(last)) = result else {
        panic!("expected the last panic, got {result:?}")
    };
    assert_eq!(last.attempt(), 4);
    assert_eq!(last.message(), "attempt 4 failed");
    assert_eq!(last.policy(), KeepRunning);
    // Three restarts, all within the 60s window.
    assert!(ended - started < Duration::from_secs(60));

    assert_eq!(capture.panic_events().len(), 4);
    assert_eq!(capture.events_named("task.restarting").len(), 3);
    let gave_up = capture.events_named("task.gave_up");
    assert_eq!(gave_up.len(), 1);
    let gave_up = &gave_up[0];
    assert_eq!(gave_up.level, tracing::Level::ERROR);
    assert_eq!(gave_up.field("component"), Some("transaction"));
    assert_eq!(gave_up.field("goroutine_name"), Some("balance-sync"));
    assert_eq!(gave_up.field("policy"), Some("KeepRunning"));
    assert_eq!(gave_up.field_u64("attempt"), 4);
    assert_eq!(gave_up.field_u64("max_restarts"), 3);
    assert_eq!(gave_up.field_u64("within_ms"), 60_000);
}

#[test]
fn zero_max_restarts_gives_up_at_the_first_panic() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let result = rt.block_on(async {
        Task::new("c", "once")
            .restart(RestartPolicy::from_millis(0, 60_000, 100, 1_000))
            .spawn(|_| async { panic!("no second chance") })
            .await
    });
    assert_eq!(result.unwrap_err().into_panicked().unwrap().attempt(), 1);
    assert!(capture.events_named("task.restarting").is_empty());
    assert_eq!(capture.events_named("task.gave_up").len(), 1);
}

#[test]
fn failures_spaced_beyond_the_window_restart_forever_at_the_first_backoff_step() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let result = rt.block_on(async {
        Task::new("notification", "email-sender")
            .restart(RestartPolicy::from_millis(1, 1_000, 10, 1_000))
            .spawn(|ctx| async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if ctx.attempt() <= 50 {
                    panic!("smtp down");
                }
                ctx.attempt()
            })
            .await
    });
    assert_eq!(result.unwrap(), 51);
    let backoffs = capture.u64_fields("task.restarting", "backoff_ms");
    assert_eq!(backoffs.len(), 50);
    // Each attempt ran 2s (longer than `within`) before panicking: the backoff resets each time.
    assert!(
        backoffs.iter().all(|b| (10..=20).contains(b)),
        "{backoffs:?}"
    );
    assert!(capture.events_named("task.gave_up").is_empty());
    assert_eq!(capture.panic_events().len(), 50);
}

#[test]
fn a_run_as_long_as_the_window_resets_the_backoff_and_a_shorter_one_does_not() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    // How long each attempt runs before it panics; the 6th returns.
    let runs_ms = [0, 0, 9_999, 10_000, 0];
    let result = rt.block_on(async {
        Task::new("ledger", "reconciler")
            .restart(RestartPolicy::from_millis(100, 10_000, 100, 100_000))
            .spawn(move |ctx| async move {
                let Some(&ms) = runs_ms.get(ctx.attempt() as usize - 1) else {
                    return ctx.attempt();
                };
                tokio::time::sleep(Duration::from_millis(ms)).await;
                panic!("attempt {} failed after {ms}ms", ctx.attempt());
            })
            .await
    });
    assert_eq!(result.unwrap(), 6);
    let backoffs = capture.u64_fields("task.restarting", "backoff_ms");
    // Steps: 1, 2, 3 (9.999s is not a clean `within`), reset to 1 (10s is), 2.
    let steps = [1, 2, 3, 1, 2];
    assert_eq!(backoffs.len(), steps.len());
    for (backoff, step) in backoffs.iter().zip(steps) {
        let (low, high) = documented_bounds(100, 100_000, step);
        assert!((low..=high).contains(backoff), "{backoffs:?}");
    }
}

#[test]
fn each_attempt_runs_in_its_own_span_under_the_task_span() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let result = rt.block_on(async {
        let spawner = tracing::info_span!("spawner");
        let handle = spawner.in_scope(|| {
            Task::new("delivery", "processor")
                .restart(RestartPolicy::from_millis(5, 60_000, 10, 100))
                .spawn(|ctx| async move {
                    tokio::task::yield_now().await;
                    assert!(ctx.attempt() >= 3, "attempt {} failed", ctx.attempt());
                    ctx.attempt()
                })
        });
        handle.await
    });
    assert_eq!(result.unwrap(), 3);

    let spawner = &capture.spans_named("spawner")[0];
    let tasks = capture.spans_named("mruntime.task");
    assert_eq!(tasks.len(), 1);
    let task = &tasks[0];
    assert_eq!(
        task.parent,
        Some(spawner.id),
        "task span parented at the spawn"
    );
    assert_eq!(task.fields["component"], "delivery");
    assert_eq!(task.fields["name"], "processor");

    let attempts = capture.spans_named("mruntime.attempt");
    let numbers: Vec<&str> = attempts
        .iter()
        .map(|s| s.fields["attempt"].as_str())
        .collect();
    assert_eq!(numbers, ["1", "2", "3"]);
    for span in &attempts {
        assert_eq!(span.parent, Some(task.id));
        assert_eq!(span.fields["component"], "delivery");
        assert_eq!(span.fields["name"], "processor");
    }

    let panics = capture.panic_events();
    assert_eq!(panics.len(), 2);
    for (event, attempt) in panics.iter().zip(["1", "2"]) {
        assert_eq!(event.field("attempt"), Some(attempt));
        assert_eq!(
            event.field("panic.value"),
            Some(format!("attempt {attempt} failed").as_str())
        );
        let scope: Vec<(&str, Option<&str>)> = event
            .scope
            .iter()
            .map(|s| (s.name, s.fields.get("attempt").map(String::as_str)))
            .collect();
        assert_eq!(
            scope,
            [
                ("mruntime.attempt", Some(attempt)),
                ("mruntime.task", None),
                ("spawner", None),
            ]
        );
    }
    for event in capture.events_named("task.restarting") {
        assert_eq!(
            event.scope[0].id, task.id,
            "restarts are logged in the task span"
        );
    }
}

#[test]
fn a_supervised_blocking_task_restarts_on_the_blocking_pool() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let result = rt.block_on(async {
        Task::new("reports", "render-pdf")
            .restart(RestartPolicy::from_millis(5, 60_000, 50, 50))
            .spawn_blocking(|ctx| {
                assert!(ctx.attempt() >= 3, "font missing");
                (
                    ctx.attempt(),
                    std::thread::current().name().map(str::to_owned),
                )
            })
            .await
    });
    let (attempt, _thread) = result.unwrap();
    assert_eq!(attempt, 3);
    assert_eq!(
        capture.u64_fields("task.restarting", "backoff_ms"),
        [50, 50]
    );
    let panics = capture.panic_events();
    assert_eq!(panics.len(), 2);
    let task = &capture.spans_named("mruntime.task")[0];
    for (event, attempt) in panics.iter().zip(["1", "2"]) {
        assert_eq!(event.field("attempt"), Some(attempt));
        assert_eq!(event.scope[0].name, "mruntime.attempt");
        assert_eq!(event.scope[0].parent, Some(task.id));
    }
}

#[test]
fn a_panic_while_making_the_attempt_is_restarted_too() {
    let capture = Capture::new();
    let _guard = capture.set_default();
    let rt = capture.paused_runtime();
    let starts = Starts::default();
    let recorder = starts.clone();
    let result = rt.block_on(async {
        Task::new("c", "factory")
            .restart(RestartPolicy::from_millis(5, 60_000, 10, 10))
            .spawn(move |ctx| {
                recorder.record();
                assert!(ctx.attempt() > 1, "bad configuration");
                async move { ctx.attempt() }
            })
            .await
    });
    assert_eq!(result.unwrap(), 2);
    assert_eq!(starts.count(), 2);
    assert_eq!(
        capture.panic_events()[0].field("panic.value"),
        Some("bad configuration")
    );
}

/// The child's side of the CrashProcess test: report to stderr through a real fmt subscriber.
fn play(scenario: &str) {
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    assert_eq!(scenario, "crash_after_giving_up");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        Task::new("transaction", "balance-commit")
            .policy(CrashProcess)
            .restart(RestartPolicy::from_millis(2, 60_000, 10, 10))
            .spawn(|ctx| async move { panic!("partial commit in attempt {}", ctx.attempt()) })
            .await
    });
    println!("SURVIVED {result:?}");
}

#[test]
fn crash_process_applies_only_once_the_task_gives_up() {
    if let Some(scenario) = child_scenario() {
        return play(&scenario);
    }
    let outcome = run_child(
        "crash_process_applies_only_once_the_task_gives_up",
        "crash_after_giving_up",
    );
    assert!(outcome.aborted(), "expected SIGABRT, got {outcome:#?}");
    assert!(!outcome.stdout.contains("SURVIVED"), "{outcome:#?}");
    let lines = |needle: &str| {
        outcome
            .stderr
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    };
    // Three runs reported (the first two restarted, not crashed), then the give-up, then the crash.
    assert_eq!(lines("panic.recovered"), 3, "{}", outcome.stderr);
    assert_eq!(lines("task.restarting"), 2, "{}", outcome.stderr);
    assert_eq!(lines("task.gave_up"), 1, "{}", outcome.stderr);
    for attempt in 1..=3 {
        assert!(
            outcome
                .stderr
                .contains(&format!("partial commit in attempt {attempt}")),
            "{}",
            outcome.stderr
        );
    }
    assert!(
        outcome
            .stderr
            .contains("mruntime: CrashProcess: panic in transaction/balance-commit"),
        "{}",
        outcome.stderr
    );
    // The crash line comes first: the crash deadline is armed before the give-up event, so a
    // subscriber that hangs on that event cannot keep the process alive.
    let crash_at = outcome.stderr.find("mruntime: CrashProcess").unwrap();
    let gave_up_at = outcome.stderr.find("task.gave_up").unwrap();
    assert!(crash_at < gave_up_at);
}
