//! A `CrashProcess` crash ends the process within the crash-flush timeout, whatever hangs: the
//! error reporter's `report` or `flush`, a tracing layer's `on_event`, an `on_crash` flush, on
//! every runtime flavour and through every path that crashes. Two threads crashing at once are
//! reported once. Each scenario runs in a child process; its time to death is measured from the
//! moment it panics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mruntime::PanicPolicy::CrashProcess;
use mruntime::{ErrorReporter, Panicked, RestartPolicy, Task};
use mruntime_tests::{ChildOutcome, child_scenario, mark_crash_start, run_child_within};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The crash-flush timeout every child sets.
const TIMEOUT: Duration = Duration::from_millis(300);
/// What a loaded machine may add to the timeout before the abort is seen.
const MARGIN: Duration = Duration::from_millis(1_700);
/// A child still alive after this is hung: killed, and the test fails.
const HUNG_AFTER: Duration = Duration::from_secs(20);

fn forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// An error reporter whose `report` never returns.
struct ReportHangs;

impl ErrorReporter for ReportHangs {
    fn report(&self, _: &Panicked) {
        forever()
    }
}

/// An error reporter whose `flush` never returns.
struct FlushHangs;

impl ErrorReporter for FlushHangs {
    fn report(&self, panicked: &Panicked) {
        eprintln!("REPORTED {}", panicked.name());
    }
    fn flush(&self, _: Duration) -> bool {
        forever()
    }
}

/// An error reporter that panics.
struct ReportPanics;

impl ErrorReporter for ReportPanics {
    fn report(&self, _: &Panicked) {
        panic!("the reporter is broken")
    }
}

/// An error reporter whose own `CrashProcess` guard panics while reporting.
struct CrashingReporter;

impl ErrorReporter for CrashingReporter {
    fn report(&self, _: &Panicked) {
        let _ = mruntime::guard("reporter", "send", CrashProcess, || panic!("reporter bug"));
    }
}

/// A tracing layer that blocks forever in `on_event` on the event whose message is `on`.
struct HangingLayer {
    on: &'static str,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for HangingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        if message.0 == self.on {
            forever()
        }
    }
}

/// A tracing layer that panics on every event.
struct PanickingLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PanickingLayer {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        panic!("the subscriber is broken")
    }
}

fn hang_in_tracing(on: &'static str) {
    let subscriber = tracing_subscriber::registry().with(HangingLayer { on });
    tracing::subscriber::set_global_default(subscriber).unwrap();
}

#[mruntime::recover(component = "ledger", name = "post", policy = CrashProcess)]
async fn post(amount: i64) -> i64 {
    tokio::task::yield_now().await;
    mark_crash_start();
    assert!(amount >= 0, "negative amount");
    amount
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The child's side of each scenario.
fn play(scenario: &str) {
    mruntime::set_crash_flush_timeout(TIMEOUT);
    match scenario {
        // `#[recover]` on an async fn, current-thread runtime.
        "report_hangs" => {
            mruntime::set_error_reporter(ReportHangs);
            current_thread().block_on(post(-1));
        }
        // `mruntime::spawn`, multi-thread runtime.
        "tracing_hangs" => {
            hang_in_tracing("panic.recovered");
            let _ = multi_thread().block_on(async {
                mruntime::spawn("ledger", "settle", CrashProcess, async {
                    mark_crash_start();
                    panic!("settlement mismatch")
                })
                .await
            });
        }
        // `mruntime::guard` on a plain thread of its own.
        "on_crash_hangs" => {
            mruntime::on_crash(|| forever());
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _ = mruntime::guard("ledger", "close", CrashProcess, || {
                        mark_crash_start();
                        panic!("books do not balance")
                    });
                });
            });
        }
        // `mruntime::spawn_blocking`, the blocking pool.
        "flush_hangs" => {
            mruntime::set_error_reporter(FlushHangs);
            let _ = current_thread().block_on(async {
                mruntime::spawn_blocking("ledger", "migrate", CrashProcess, || {
                    mark_crash_start();
                    panic!("schema half migrated")
                })
                .await
            });
        }
        // A supervised task that gives up at its first panic: the attempt's report hangs.
        "supervised_report_hangs" => {
            mruntime::set_error_reporter(ReportHangs);
            let _ = multi_thread().block_on(async {
                Task::new("ledger", "sync")
                    .policy(CrashProcess)
                    .restart(RestartPolicy::from_millis(0, 60_000, 10, 10))
                    .spawn(|_| async {
                        mark_crash_start();
                        panic!("sync diverged")
                    })
                    .await
            });
        }
        // A supervised task restarted once, then giving up: the give-up event hangs.
        "give_up_hangs" => {
            hang_in_tracing("task.gave_up");
            let _ = current_thread().block_on(async {
                Task::new("ledger", "replay")
                    .policy(CrashProcess)
                    .restart(RestartPolicy::from_millis(1, 60_000, 10, 10))
                    .spawn(|ctx| async move {
                        if ctx.attempt() == 2 {
                            mark_crash_start();
                        }
                        panic!("replay failed in attempt {}", ctx.attempt())
                    })
                    .await
            });
        }
        // The tower layer under `CrashProcess`.
        "tower_report_hangs" => {
            use tower::{Layer as _, ServiceExt as _};
            mruntime::set_error_reporter(ReportHangs);
            let service = mruntime::tower::RecoverLayer::new("api")
                .policy(CrashProcess)
                .layer(tower::service_fn(|_: http::Request<()>| async {
                    mark_crash_start();
                    if true {
                        panic!("handler bug");
                    }
                    Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
                }));
            let _ = current_thread().block_on(service.oneshot(http::Request::new(())));
        }
        // Broken sinks: the crash goes on past them, at once.
        "sinks_panic" => {
            mruntime::set_error_reporter(ReportPanics);
            let subscriber = tracing_subscriber::registry().with(PanickingLayer);
            tracing::subscriber::set_global_default(subscriber).unwrap();
            let _ = mruntime::guard("ledger", "audit", CrashProcess, || {
                mark_crash_start();
                panic!("audit trail broken")
            });
        }
        "two_at_once" => two_at_once(),
        "longest_timeout" => {
            mruntime::set_crash_flush_timeout(Duration::MAX);
            mruntime::on_crash(|| eprintln!("ON_CRASH RAN"));
            let _ = mruntime::guard("ledger", "audit", CrashProcess, || {
                mark_crash_start();
                panic!("audit trail broken")
            });
        }
        "reporter_crashes" => {
            mruntime::set_error_reporter(CrashingReporter);
            let _ = mruntime::guard("ledger", "audit", CrashProcess, || {
                mark_crash_start();
                panic!("audit trail broken")
            });
        }
        other => unreachable!("unknown scenario {other}"),
    }
    println!("SURVIVED");
}

/// Counts reports and slows each one down, so that both threads are inside the crash at once.
struct SlowCountingReporter(Arc<AtomicUsize>);

impl ErrorReporter for SlowCountingReporter {
    fn report(&self, panicked: &Panicked) {
        self.0.fetch_add(1, Ordering::SeqCst);
        eprintln!("REPORTED {}", panicked.name());
        std::thread::sleep(Duration::from_millis(100));
    }
    fn flush(&self, _: Duration) -> bool {
        eprintln!("REPORTER FLUSHED");
        true
    }
}

fn two_at_once() {
    mruntime::set_crash_flush_timeout(Duration::from_secs(3));
    mruntime::set_error_reporter(SlowCountingReporter(Arc::default()));
    mruntime::on_crash(|| eprintln!("ON_CRASH RAN"));
    let both = Barrier::new(2);
    std::thread::scope(|s| {
        for name in ["left", "right"] {
            let both = &both;
            s.spawn(move || {
                let _ = mruntime::guard("ledger", name, CrashProcess, || {
                    both.wait();
                    if name == "left" {
                        mark_crash_start();
                    }
                    panic!("{name} broke")
                });
            });
        }
    });
}

fn crash(test: &str, scenario: &str) -> ChildOutcome {
    let outcome = run_child_within(test, scenario, HUNG_AFTER);
    assert!(!outcome.hung, "the crash hung: {outcome:#?}");
    assert!(outcome.aborted(), "expected SIGABRT: {outcome:#?}");
    assert!(!outcome.stdout.contains("SURVIVED"), "{outcome:#?}");
    let died_in = outcome
        .time_to_death()
        .unwrap_or_else(|| panic!("the child did not mark its crash: {outcome:#?}"));
    eprintln!("{scenario}: died {died_in:?} after the panic");
    outcome
}

/// A crash that hangs somewhere: cut off by the watchdog at the timeout, not before, not much after;
/// the stderr line was printed first.
fn assert_cut_off(test: &str, scenario: &str, component_name: &str) -> ChildOutcome {
    let outcome = crash(test, scenario);
    let died_in = outcome.time_to_death().unwrap();
    assert!(
        died_in >= TIMEOUT && died_in <= TIMEOUT + MARGIN,
        "{scenario}: died {died_in:?} after the panic, timeout {TIMEOUT:?}: {outcome:#?}"
    );
    assert!(
        outcome.stderr.contains(&format!(
            "mruntime: CrashProcess: panic in {component_name}"
        )),
        "{outcome:#?}"
    );
    outcome
}

#[test]
fn a_hanging_report_is_cut_off_on_a_current_thread_runtime() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            assert_cut_off(
                "a_hanging_report_is_cut_off_on_a_current_thread_runtime",
                "report_hangs",
                "ledger/post",
            );
        }
    }
}

#[test]
fn a_tracing_layer_hanging_in_on_event_is_cut_off_on_a_multi_thread_runtime() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            assert_cut_off(
                "a_tracing_layer_hanging_in_on_event_is_cut_off_on_a_multi_thread_runtime",
                "tracing_hangs",
                "ledger/settle",
            );
        }
    }
}

#[test]
fn a_hanging_on_crash_flush_is_cut_off_on_a_plain_thread() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            assert_cut_off(
                "a_hanging_on_crash_flush_is_cut_off_on_a_plain_thread",
                "on_crash_hangs",
                "ledger/close",
            );
        }
    }
}

#[test]
fn a_hanging_reporter_flush_is_cut_off_on_the_blocking_pool() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            let outcome = assert_cut_off(
                "a_hanging_reporter_flush_is_cut_off_on_the_blocking_pool",
                "flush_hangs",
                "ledger/migrate",
            );
            assert!(outcome.stderr.contains("REPORTED migrate"), "{outcome:#?}");
        }
    }
}

#[test]
fn a_supervised_task_whose_report_hangs_is_cut_off() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            let outcome = crash(
                "a_supervised_task_whose_report_hangs_is_cut_off",
                "supervised_report_hangs",
            );
            let died_in = outcome.time_to_death().unwrap();
            assert!(
                died_in >= TIMEOUT && died_in <= TIMEOUT + MARGIN,
                "died {died_in:?} after the panic: {outcome:#?}"
            );
        }
    }
}

#[test]
fn a_supervised_task_whose_give_up_event_hangs_is_cut_off() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            assert_cut_off(
                "a_supervised_task_whose_give_up_event_hangs_is_cut_off",
                "give_up_hangs",
                "ledger/replay",
            );
        }
    }
}

#[test]
fn a_hanging_report_under_the_tower_layer_is_cut_off() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            assert_cut_off(
                "a_hanging_report_under_the_tower_layer_is_cut_off",
                "tower_report_hangs",
                "api/http",
            );
        }
    }
}

#[test]
fn panicking_sinks_do_not_delay_the_crash() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            let outcome = crash("panicking_sinks_do_not_delay_the_crash", "sinks_panic");
            let died_in = outcome.time_to_death().unwrap();
            assert!(
                died_in < TIMEOUT + MARGIN,
                "died {died_in:?} after the panic"
            );
            assert!(
                outcome
                    .stderr
                    .contains("mruntime: CrashProcess: panic in ledger/audit"),
                "{outcome:#?}"
            );
            for sink in ["tracing subscriber", "error reporter"] {
                assert!(
                    outcome.stderr.contains(&format!("the {sink} panicked")),
                    "{sink}: {outcome:#?}"
                );
            }
        }
    }
}

#[test]
fn a_reporter_that_crashes_while_reporting_ends_the_process_at_once() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            let outcome = crash(
                "a_reporter_that_crashes_while_reporting_ends_the_process_at_once",
                "reporter_crashes",
            );
            let died_in = outcome.time_to_death().unwrap();
            assert!(
                died_in < TIMEOUT,
                "died {died_in:?} after the panic: {outcome:#?}"
            );
            let count = outcome
                .stderr
                .matches("mruntime: CrashProcess: panic in")
                .count();
            assert_eq!(count, 1, "{outcome:#?}");
        }
    }
}

#[test]
fn the_longest_timeout_still_crashes_once_the_flush_is_done() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            let outcome = crash(
                "the_longest_timeout_still_crashes_once_the_flush_is_done",
                "longest_timeout",
            );
            assert!(outcome.stderr.contains("ON_CRASH RAN"), "{outcome:#?}");
            let died_in = outcome.time_to_death().unwrap();
            assert!(died_in < MARGIN, "died {died_in:?} after the panic");
        }
    }
}

#[test]
fn two_threads_crashing_at_once_are_reported_once() {
    match child_scenario() {
        Some(s) => play(&s),
        None => {
            let outcome = crash(
                "two_threads_crashing_at_once_are_reported_once",
                "two_at_once",
            );
            let count = |needle: &str| outcome.stderr.matches(needle).count();
            assert_eq!(count("REPORTED "), 1, "{outcome:#?}");
            assert_eq!(
                count("mruntime: CrashProcess: panic in ledger/"),
                1,
                "{outcome:#?}"
            );
            assert_eq!(count("ON_CRASH RAN"), 1, "{outcome:#?}");
            assert_eq!(count("REPORTER FLUSHED"), 1, "{outcome:#?}");
            // Nothing hung: the abort came after the flush, well before the 3 s deadline.
            assert!(
                outcome.time_to_death().unwrap() < Duration::from_secs(3),
                "{outcome:#?}"
            );
        }
    }
}

#[test]
fn a_hanging_report_is_cut_off_in_a_panic_abort_build() {
    if child_scenario().is_some() {
        return;
    }
    // The fixture of tests/panic_abort.rs, in the same target dir, with a reporter that hangs.
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/panic_abort/Cargo.toml"
    );
    let target = concat!(env!("CARGO_TARGET_TMPDIR"), "/panic-abort-fixture");
    let built = std::process::Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path", manifest])
        .env("CARGO_TARGET_DIR", target)
        .status()
        .expect("build the fixture");
    assert!(built.success());
    let binary = format!("{target}/debug/panic-abort-fixture");
    let started = Instant::now();
    let mut child = std::process::Command::new(binary)
        .env("PANIC_ABORT_FIXTURE_HANG", "1")
        .env_remove("RUST_BACKTRACE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the fixture");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > HUNG_AFTER {
            let _ = child.kill();
            panic!("the panic = \"abort\" crash hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let died_in = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    eprintln!("panic_abort: died {died_in:?} after the start (the panic is at the start)");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(6), "{stderr}");
    assert!(
        died_in >= TIMEOUT && died_in <= TIMEOUT + MARGIN,
        "died {died_in:?} after the start: {stderr}"
    );
    assert!(
        stderr.contains("mruntime: CrashProcess: panic in ledger/post"),
        "{stderr}"
    );
}
