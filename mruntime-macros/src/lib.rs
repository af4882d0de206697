//! Procedural macros for [mruntime](https://docs.rs/mruntime): `#[recover]`, `#[safe_task]` and
//! `safe_go!`. Use them through the `mruntime` crate, which provides the `__private` functions
//! they expand to.
//!
//! Each macro runs the same stages: `item` reads the function (a syntax error is left to rustc:
//! the item is emitted untouched), `args` reads the arguments (with `restart`, both through
//! `list`), `validate` checks them against the item (and `panicguard` checks the body) and builds
//! a `model`, `expand` generates the code from the model and cannot fail, and on any error
//! `fallback` emits the item as close to intended as possible (for `safe_go!`, the real expansion
//! of a placeholder model) next to every error found, all reported together. `snippet` prints
//! the user's types and paths in messages.

use proc_macro::TokenStream;

mod args;
mod errors;
mod expand;
mod fallback;
mod item;
mod list;
mod model;
mod panicguard;
mod restart;
mod snippet;
mod validate;

use item::Parsed;
use model::MacroKind;

/// Guards a function: a panic in its body is caught, reported exactly once (log event, metric,
/// span event, error reporter) with its location and backtrace, then handled by the policy.
///
/// ```
/// use mruntime::{Panicked, recover};
///
/// #[derive(Debug)]
/// struct ApiError(String);
///
/// impl From<Panicked> for ApiError {
///     fn from(panicked: Panicked) -> Self {
///         ApiError(panicked.to_string())
///     }
/// }
///
/// #[recover(component = "onboarding", name = "handler.create_account")]
/// async fn create_account(name: String) -> Result<u64, ApiError> {
///     assert!(!name.is_empty(), "name must not be empty");
///     Ok(42)
/// }
///
/// #[recover(component = "ledger")] // name: "parse_amount"
/// fn parse_amount(text: &str) -> Option<u64> {
///     Some(text.parse().expect("an amount"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(create_account("ana".into()).await.unwrap(), 42);
/// let error = create_account(String::new()).await.unwrap_err();
/// assert!(error.0.ends_with("name must not be empty"));
/// assert_eq!(parse_amount("12"), Some(12));
/// assert_eq!(parse_amount("twelve"), None);
/// # }
/// ```
///
/// # Arguments
///
/// | Key | Value | Default |
/// |---|---|---|
/// | `component` | the subsystem: a string literal (`"payments"`) or the path of a `&'static str` constant (`labels::PAYMENTS`) | required |
/// | `name` | the handler or operation: a string literal or a constant's path | the function's name |
/// | `policy` | `KeepRunning` or `CrashProcess`, or a path ending in one (`mruntime::PanicPolicy::CrashProcess`) | `KeepRunning` |
/// | `on_panic` | a path to a `fn(mruntime::Panicked) -> Ret` (or a closure) | the return type's [`FromPanic`] |
/// | `allow_raw_spawn` | a flag: allow raw spawns in the body (see below) | off |
///
/// The component and the name may also come first, positionally:
/// `#[recover("onboarding", "handler.create_account", policy = KeepRunning)]`.
///
/// Keyed, either may name a `&'static str` constant (its last segment in upper case, as Rust
/// names constants), as Go services keep their labels; the label is the constant's value, and an
/// empty one is a compile error:
///
/// ```
/// mod labels {
///     pub const PAYMENTS: &str = "payments";
/// }
///
/// #[mruntime::recover(component = labels::PAYMENTS)]
/// fn charge(amount: u64) -> Option<u64> {
///     Some(amount.checked_mul(100).expect("overflow"))
/// }
///
/// assert_eq!(charge(u64::MAX), None);
/// ```
///
/// # After a panic
///
/// Under `KeepRunning` the function returns:
/// - `()` for a function without a return type;
/// - `None` for `Option<T>`;
/// - `Err(E::from(panicked))` for `Result<T, E>` where `E: From<mruntime::Panicked>` (in a
///   generic function, bound it `E: mruntime::RecoverError`); an `E` without it is a compile
///   error at `E`;
/// - the value of [`FromPanic`] for any type implementing it,
/// - or whatever `on_panic` returns, for any return type.
///
/// Any other return type is a compile error pointing at it. Under `CrashProcess` the process
/// ends after the report (telemetry flushed first), so the return type does not matter and
/// `on_panic` is rejected.
///
/// # Streams
///
/// A function returning `impl Stream<Item = Result<T, E>>` (sync, or `async fn`) is guarded
/// twice over: while its body makes the stream, and on every poll of the stream (as
/// [`guard_stream`](https://docs.rs/mruntime/latest/mruntime/fn.guard_stream.html) does). A
/// panic in either ends the stream with one last item, `Err(E::from(panicked))` (the item's
/// `FromPanic`), after the items already yielded; then it yields `None`. `on_panic` does not
/// apply there.
///
/// ```
/// use futures_core::Stream;
/// use mruntime::{Panicked, recover};
/// use tokio_stream::StreamExt;
///
/// #[derive(Debug, PartialEq)]
/// struct ExportError;
/// impl From<Panicked> for ExportError {
///     fn from(_: Panicked) -> Self { ExportError }
/// }
///
/// #[recover(component = "reports", name = "export")]
/// fn export(rows: u32) -> impl Stream<Item = Result<u32, ExportError>> {
///     tokio_stream::iter(0..rows).map(|row| {
///         assert!(row != 2, "row 2 is corrupt");
///         Ok(row)
///     })
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let items: Vec<_> = export(5).collect().await;
/// assert_eq!(items, [Ok(0), Ok(1), Err(ExportError)]);
/// # }
/// ```
///
/// # Where it works
///
/// Sync and `async` functions, methods with any receiver (`&self`, `&mut self`, `self`,
/// `self: Arc<Self>`), generic functions, `impl Trait` returns (`Result<impl Display, E>`; a bare
/// `-> impl Trait` under `CrashProcess`), `-> !` under `CrashProcess`, and `#[async_trait]`
/// methods (the future async-trait builds is what gets guarded). `return` and `?` in the body
/// keep their meaning. Not on a `const fn`, a function without a body, or any other item.
///
/// # Raw spawns are rejected
///
/// In the body (closures and blocks included, nested `fn` items excluded), a raw spawn is a
/// compile error, since a panic in the spawned task would escape the guard: `tokio::spawn`,
/// `tokio::task::{spawn, spawn_local, spawn_blocking}`, `std::thread::spawn`, `thread::spawn`,
/// those functions imported in the body under any name, and `.spawn(..)` on a value that is
/// evidently a tokio runtime, handle or `JoinSet` (`Handle::current().spawn(..)`,
/// `rt.spawn(..)` after `let rt = Runtime::new()?`) or a `std::thread::Builder`. Use
/// `mruntime::safe_go!` instead, or add `allow_raw_spawn` where a raw spawn is deliberate.
/// Discarding the result of `catch_unwind` (`let _ = std::panic::catch_unwind(..)`) is
/// rejected too: it swallows a panic without any report. The check reads the body's syntax
/// only, so it cannot see imports outside the function; the `clippy.toml` ban shipped with
/// mruntime covers the rest of the project.
///
/// # Expansion
///
/// The signature is unchanged; a sync body runs in a closure under
/// `mruntime::__private::guard_sync`, an async body in an `async move` block under
/// `guard_async`, each labelled by one `static` site.
///
/// [`FromPanic`]: https://docs.rs/mruntime/latest/mruntime/trait.FromPanic.html
#[proc_macro_attribute]
pub fn recover(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let func = match Parsed::new(MacroKind::Recover, item.clone()) {
        Parsed::Fn(func) => Ok(*func),
        Parsed::NotAFunction(error) => Err(error),
        Parsed::SyntaxError => return item.into(),
    };
    let (args, errors) = args::parse(MacroKind::Recover, args.into());
    match validate::recover(args, errors, func) {
        Ok(model) => expand::recover(&model),
        Err(error) => fallback::unchanged(item, error),
    }
    .into()
}

/// Makes a function a guarded task: calling it spawns its body (an `async fn` on the runtime, a
/// sync fn on the blocking pool) and returns its `mruntime::TaskHandle<Ret>` at once.
///
/// ```
/// use std::sync::Arc;
///
/// use mruntime::{TaskError, safe_task};
///
/// #[safe_task(component = "transaction", name = "balance-sync")]
/// async fn balance_sync(accounts: Arc<Vec<u64>>) -> u64 {
///     accounts.iter().map(|balance| balance.checked_mul(2).expect("overflow")).sum()
/// }
///
/// #[safe_task(component = "reports")] // runs on the blocking pool
/// fn render(rows: Vec<u32>) -> usize {
///     rows.len()
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let handle = balance_sync(Arc::new(vec![1, 2]));
/// assert_eq!(handle.await.unwrap(), 6);
/// assert!(matches!(balance_sync(Arc::new(vec![u64::MAX])).await, Err(TaskError::Panicked(_))));
/// assert_eq!(render(vec![1, 2, 3]).await.unwrap(), 3);
/// # }
/// ```
///
/// # Arguments
///
/// | Key | Value | Default |
/// |---|---|---|
/// | `component` | a string literal or the path of a `&'static str` constant | required |
/// | `name` | a string literal or a constant's path | the function's name |
/// | `policy` | `KeepRunning` or `CrashProcess` (or a path ending in one) | `KeepRunning` |
/// | `restart` | `restart(max = 5, within = "60s", backoff = "100ms..10s")`: restart after a panic ([below](#restarts)) | runs once |
/// | `group` | an expression giving the `mruntime::TaskGroup` to spawn into ([below](#groups)) | no group |
/// | `allow_raw_spawn` | a flag, as for [`recover`](macro@recover) | off |
///
/// `component`, `name`, `policy` and `allow_raw_spawn` work as for [`recover`](macro@recover). A
/// panic in the task is reported once and reaches whoever awaits the handle as
/// `Err(TaskError::Panicked(..))` (under `KeepRunning`); under `CrashProcess` it ends the
/// process.
///
/// # Arguments must be `'static`
///
/// The task runs after the call returns, so a borrowed argument (`&T`, `&mut T`, a type with a
/// lifetime, `&self`) is a compile error naming it: take an owned type, share it with `Arc`, or
/// take `self: Arc<Self>`. Every argument is moved into the task as an `async fn` moves its
/// arguments into its future, so an argument the body never reads (a semaphore permit, a drop
/// guard) lives until the task ends. A `-> !` task's handle yields `Infallible`.
///
/// # The task's context
///
/// One argument may be a `mruntime::TaskContext` (any argument whose type's last path segment is
/// `TaskContext`; two are an error). The function keeps its signature: the caller passes the
/// **parent** context (`TaskContext::new()`, `group.context()`, its own `ctx.clone()`), and the
/// body receives under the same name the task's **own** context, derived from it: cancelling
/// the parent cancels the task (`ctx.cancelled()`, `ctx.is_cancelled()`), and
/// `ctx.component()`, `ctx.name()` and `ctx.attempt()` are the task's. Take it by value:
/// `&TaskContext` is an error.
///
/// ```
/// use mruntime::{TaskContext, safe_task};
///
/// #[safe_task(component = "cache", name = "refresher")]
/// async fn refresher(ctx: TaskContext) -> u32 {
///     let mut rounds = 0;
///     while !ctx.is_cancelled() {
///         tokio::select! {
///             _ = ctx.cancelled() => break,
///             _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => rounds += 1,
///         }
///     }
///     rounds
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let parent = TaskContext::new();
/// let handle = refresher(parent.clone());
/// tokio::time::sleep(std::time::Duration::from_millis(20)).await;
/// parent.token().cancel(); // Go's cancel()
/// assert!(handle.await.unwrap() > 0);
/// # }
/// ```
///
/// # Restarts
///
/// With `restart(..)` the task is supervised: after a panic (reported, with its attempt number)
/// it is started again after a backoff, until more than `max` restarts happen within `within`;
/// then it gives up and its `policy` applies (`KeepRunning`: the handle yields the last panic,
/// whose `attempt()` is the number of runs). See `mruntime::RestartPolicy` for the backoff,
/// the intensity window and the reset after a clean run.
///
/// | Setting | Value | Default |
/// |---|---|---|
/// | `max` | restarts allowed within `within` (a `u32`; `0` never restarts) | `5` |
/// | `within` | a duration literal, at least `"1ms"` | `"60s"` |
/// | `backoff` | `"first..second"`, two duration literals, first ≤ second | `"100ms..10s"` |
///
/// Every setting is optional, in any order; `restart` alone (or `restart()`) takes every
/// default. A duration literal is a whole number and a unit, without spaces: `"250ms"`,
/// `"30s"`, `"5m"`, `"1h"` (units `ms`, `s`, `m`, `h`; no fractions: `"1500ms"`, not
/// `"1.5s"`). Malformed literals, `within = "0s"`, a backoff whose first bound exceeds its
/// second, unknown or repeated settings are compile errors pointing at them. The policy is a
/// `static` computed at compile time.
///
/// Each attempt runs the body afresh, with **its own clone of every argument** (but the
/// context, which is the attempt's: `ctx.attempt()` is 1, 2, ..), so an attempt never sees
/// what an earlier one did to its arguments. The arguments must therefore be `Clone` (a compile
/// error pointing at the one that is not; share it with `Arc`), `self` included: a method
/// takes `self: Arc<Self>` (or `self` of a `Clone` type), and `self` in the body is the
/// attempt's clone.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// use mruntime::{TaskContext, TaskError, safe_task};
///
/// #[safe_task(
///     component = "delivery",
///     name = "processor",
///     restart(max = 5, within = "60s", backoff = "1ms..10ms")
/// )]
/// async fn processor(ctx: TaskContext, queue: Vec<u32>, runs: Arc<AtomicU32>) -> u32 {
///     runs.fetch_add(1, Ordering::SeqCst);
///     if ctx.attempt() < 3 {
///         panic!("queue unreachable (attempt {})", ctx.attempt());
///     }
///     queue.iter().sum()
/// }
///
/// #[safe_task(component = "reports", restart(max = 1, backoff = "1ms..1ms"))]
/// fn render(ctx: TaskContext) -> u32 {
///     panic!("font missing (attempt {})", ctx.attempt()) // on the blocking pool, twice
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runs = Arc::new(AtomicU32::new(0));
/// let handle = processor(TaskContext::new(), vec![1, 2], runs.clone());
/// assert_eq!(handle.await.unwrap(), 3);
/// assert_eq!(runs.load(Ordering::SeqCst), 3); // two panics, two restarts
///
/// let Err(TaskError::Panicked(last)) = render(TaskContext::new()).await else { unreachable!() };
/// assert_eq!(last.attempt(), 2); // max = 1: one restart, then it gave up
/// # }
/// ```
///
/// # Groups
///
/// `group = expr` spawns the task into a `mruntime::TaskGroup`, whose `shutdown(deadline)`
/// cancels it (a task sleeping in its backoff stops at once), waits for it and names it in its
/// report if it does not stop in time or ended by panic. The expression is evaluated at each
/// call, before the task is spawned; it may be a `TaskGroup`, a `&TaskGroup`, an
/// `Arc<TaskGroup>` or a `LazyLock<TaskGroup>` static (any type that derefs to `TaskGroup`;
/// another type is a mismatch at the expression), and may use `self` and the function's
/// arguments by reference (`group = self.workers`, `group = config.workers`). Without a
/// `TaskContext` argument the task's context derives from the group's.
///
/// ```
/// use std::sync::{Arc, LazyLock};
/// use std::time::Duration;
///
/// use mruntime::{TaskContext, TaskGroup, safe_task};
///
/// static WORKERS: LazyLock<TaskGroup> = LazyLock::new(TaskGroup::new);
///
/// #[safe_task(component = "notification", group = WORKERS, restart)]
/// async fn email_sender(ctx: TaskContext, outbox: Arc<Vec<String>>) -> usize {
///     ctx.cancelled().await; // a real worker sends until it is cancelled
///     outbox.len()
/// }
///
/// struct Ledger {
///     workers: TaskGroup,
/// }
///
/// impl Ledger {
///     #[safe_task(component = "ledger", group = self.workers)]
///     async fn reconcile(self: Arc<Self>, ctx: TaskContext) {
///         ctx.cancelled().await;
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sender = email_sender(TaskContext::new(), Arc::new(vec!["hi".into()]));
/// let ledger = Arc::new(Ledger { workers: TaskGroup::new() });
/// let _reconciler = ledger.clone().reconcile(TaskContext::new());
///
/// let report = WORKERS.shutdown(Duration::from_secs(30)).await; // StopAll(30s)
/// assert!(report.is_clean(), "{report}");
/// assert_eq!(sender.await.unwrap(), 1);
/// assert!(ledger.workers.shutdown(Duration::from_secs(30)).await.is_clean());
/// # }
/// ```
///
/// Raw spawns and discarded `catch_unwind` results in the body are rejected, as for
/// [`recover`](macro@recover).
///
/// # Expansion
///
/// The function becomes a sync fn returning `mruntime::TaskHandle<Ret>`, with one `static` site.
/// Without `restart`, `group` or a context argument its body is spawned with
/// `mruntime::__private::SpawnFuture::spawn_guarded` (`spawn_blocking` for a sync fn): no cost
/// over `mruntime::spawn`.
/// With them it goes through `spawn_with_context` / `spawn_supervised` (and their blocking
/// twins), the policy being a `static RestartPolicy` built at compile time.
///
/// # Panics
///
/// Calling the function outside a tokio runtime panics at the line of the call (the generated
/// fn is `#[track_caller]`), with a message saying to call it from inside a runtime.
#[proc_macro_attribute]
pub fn safe_task(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let func = match Parsed::new(MacroKind::SafeTask, item.clone()) {
        Parsed::Fn(func) => Ok(*func),
        Parsed::NotAFunction(error) => Err(error),
        Parsed::SyntaxError => return item.into(),
    };
    let (args, errors) = args::parse(MacroKind::SafeTask, args.into());
    match validate::safe_task(args, errors, func) {
        Ok(model) => expand::safe_task(&model),
        Err(error) => fallback::safe_task(item, error),
    }
    .into()
}

/// Spawns a future as a guarded task, in place of a bare `tokio::spawn`; returns its
/// `mruntime::TaskHandle`.
///
/// ```
/// use mruntime::{TaskError, safe_go};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let handle = safe_go!(component = "notification", name = "email-sender", async move {
///     "sent"
/// });
/// assert_eq!(handle.await.unwrap(), "sent");
///
/// let handle = safe_go!("notification", "sms-sender", async { panic!("gateway down") });
/// let Err(TaskError::Panicked(panicked)) = handle.await else { unreachable!() };
/// assert_eq!(panicked.name(), "sms-sender");
/// # }
/// ```
///
/// `component` and `name` are required (keyed, a literal or a constant's path as for
/// [`recover`](macro@recover), or the first two positional strings), `policy`
/// is optional (`KeepRunning` by default), and the future, any expression, comes last. The
/// future must be `Send + 'static`, as for `tokio::spawn`. The task's span is a child of the
/// span current where `safe_go!` is called. It expands to mruntime's own spawn function, never
/// to `tokio::spawn`, so a project-wide clippy ban on raw spawns does not fire on it.
///
/// # Panics
///
/// Outside a tokio runtime, at the line of the future (or closure) given to `safe_go!`, with a
/// message saying to call it from inside a runtime (under `#[tokio::main]`, ...).
///
/// # Context, restarts and groups
///
/// | Key | Value | Default |
/// |---|---|---|
/// | `restart` | `restart(max = .., within = "..", backoff = "..")`, as for [`safe_task`](macro@safe_task#restarts) | runs once |
/// | `group` | an expression giving the `TaskGroup` to spawn into, as for [`safe_task`](macro@safe_task#groups) | no group |
/// | `context` | an expression giving the parent `TaskContext` (a value or a reference) | none |
///
/// The last argument may be a closure that receives the task's own `TaskContext`:
/// `|ctx| async move { .. }` (a closure taking no argument is an error). The context derives
/// from `context` if given, else from the group's. With `restart(..)` the last argument
/// **must** make the future, since each attempt needs a new one: a closure (or a function such
/// as `async fn worker(ctx: TaskContext)`) called once per attempt; a future there is an error.
/// The closure is `FnMut`: clone inside it what each attempt takes.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use mruntime::{TaskContext, TaskGroup, safe_go};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let workers = TaskGroup::new();
/// let outbox = Arc::new(vec!["hi".to_owned()]);
/// let handle = safe_go!(
///     component = "notification",
///     name = "email-sender",
///     group = workers,
///     restart(max = 5, within = "60s", backoff = "1ms..10ms"),
///     move |ctx: TaskContext| {
///         let outbox = outbox.clone(); // each attempt's own
///         async move {
///             if ctx.attempt() == 1 {
///                 panic!("smtp down");
///             }
///             ctx.cancelled().await;
///             (ctx.attempt(), outbox.len())
///         }
///     }
/// );
/// tokio::time::sleep(Duration::from_millis(50)).await;
/// let report = workers.shutdown(Duration::from_secs(30)).await;
/// assert!(report.is_clean(), "{report}");
/// assert_eq!(handle.await.unwrap(), (2, 1));
///
/// // A parent context, and a closure run once.
/// let parent = TaskContext::new();
/// let handle = safe_go!("cache", "warmer", context = parent, |ctx| async move {
///     ctx.cancelled().await;
///     ctx.name()
/// });
/// parent.token().cancel();
/// assert_eq!(handle.await.unwrap(), "warmer");
/// # }
/// ```
///
/// `context` and `group` are evaluated first, then the future or closure (so the closure may
/// move what they borrowed, `self` say). A plain future may go into a group too
/// (`safe_go!(.., group = workers, async move { .. })`), but it cannot see the cancellation: the
/// group's shutdown waits for it until the deadline, then aborts it and names it.
#[proc_macro]
pub fn safe_go(input: TokenStream) -> TokenStream {
    let (args, errors) = args::parse(MacroKind::SafeGo, input.into());
    let (future, restart) = (args.future.clone(), args.restart.is_some());
    match validate::safe_go(args, errors) {
        Ok(model) => expand::safe_go(&model),
        Err(error) => fallback::safe_go(future, restart, error),
    }
    .into()
}
