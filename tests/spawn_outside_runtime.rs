//! A guarded spawn outside a tokio runtime panics at the caller's line (not at a line of
//! mruntime's or tokio's), with a message that names the spawn and says what to do.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use mruntime::{PanicPolicy, RestartPolicy, Task, TaskContext, TaskGroup, safe_go, safe_task};

thread_local! {
    static LAST_PANIC: RefCell<Option<(String, u32)>> = const { RefCell::new(None) };
}

/// Runs `spawn` outside any runtime; returns where it panicked and with what message.
fn panic_of(spawn: impl FnOnce()) -> (String, u32, String) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(|l| (l.file().to_owned(), l.line()));
            LAST_PANIC.with(|last| *last.borrow_mut() = location);
        }))
    });
    assert!(tokio::runtime::Handle::try_current().is_err());
    let payload = catch_unwind(AssertUnwindSafe(spawn)).expect_err("the spawn must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default();
    let (file, line) = LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .expect("the hook saw the panic");
    (file, line, message)
}

/// Asserts that `spawn` panics at `line` of this file (pass `line!()` on the line of the call).
fn assert_points_here(line: u32, spawn: impl FnOnce()) {
    let (file, at, message) = panic_of(spawn);
    assert_eq!((file.as_str(), at), (file!(), line), "{message}");
    for needed in [
        "safe_go!",
        "#[safe_task]",
        "mruntime::spawn",
        "tokio runtime",
        "#[tokio::main]",
    ] {
        assert!(message.contains(needed), "{needed} missing in: {message}");
    }
}

#[safe_task(component = "ledger", name = "sync")]
async fn ledger_sync(n: u32) -> u32 {
    n
}

#[safe_task(component = "ledger", name = "render")]
fn render(n: u32) -> u32 {
    n
}

#[safe_task(
    component = "ledger",
    name = "replay",
    restart(max = 1, within = "1s", backoff = "1ms..2ms")
)]
async fn replay(ctx: TaskContext) {
    ctx.cancelled().await
}

#[test]
#[rustfmt::skip] // each call stays on the line of its `line!()`
fn safe_task_fns_point_at_their_call() {
    assert_points_here(line!(), || drop(ledger_sync(1)));
    assert_points_here(line!(), || drop(render(1)));
    assert_points_here(line!(), || drop(replay(TaskContext::new())));
}

#[test]
#[rustfmt::skip] // each call stays on the line of its `line!()`
fn safe_go_points_at_its_future() {
    assert_points_here(line!(), || drop(safe_go!(component = "ledger", name = "post", async { 1 })));
    let group = TaskGroup::new();
    assert_points_here(line!(), || drop(safe_go!(component = "ledger", name = "post", group = &group, |_ctx| async { 1 })));
}

#[test]
#[rustfmt::skip] // each call stays on the line of its `line!()`
fn the_function_api_points_at_its_call() {
    assert_points_here(line!(), || drop(mruntime::spawn("ledger", "post", PanicPolicy::KeepRunning, async {})));
    assert_points_here(line!(), || drop(mruntime::spawn_blocking("ledger", "post", PanicPolicy::KeepRunning, || {})));
    assert_points_here(line!(), || drop(Task::new("ledger", "post").spawn(|_| async {})));
    assert_points_here(line!(), || drop(Task::new("ledger", "post").spawn_blocking(|_| {})));
    let restart = RestartPolicy::from_millis(1, 1_000, 1, 2);
    assert_points_here(line!(), || drop(Task::new("ledger", "post").restart(restart).spawn(|_| async {})));
    assert_points_here(line!(), || drop(Task::new("ledger", "post").restart(restart).spawn_blocking(|_| {})));
    let group = TaskGroup::new();
    assert_points_here(line!(), || drop(group.task("ledger", "post").spawn(|_| async {})));
    assert!(group.is_empty(), "the failed spawn left no task in the group");
}
