//! Procedural macros for [mruntime](https://docs.rs/mruntime): `#[recover]`, `#[safe_task]` and
//! `safe_go!`. Use them through the `mruntime` crate, which provides the `__private` functions
//! they expand to.
//!
//! Each macro runs the same stages: `args` reads the arguments, `validate` checks them against
//! the item (and `panicguard` checks the body), `expand` generates the code and cannot fail,
//! and on any error `fallback` emits the item as close to intended as possible next to every
//! error found, all reported together.

use proc_macro::TokenStream;

mod args;
mod errors;
mod expand;
mod fallback;
mod item;
mod panicguard;
mod restart;
mod validate;

use args::MacroKind;

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
/// | `component` | string literal: the subsystem (`"payments"`) | required |
/// | `name` | string literal: the handler or operation | the function's name |
/// | `policy` | `KeepRunning` or `CrashProcess`, or a path ending in one (`mruntime::PanicPolicy::CrashProcess`) | `KeepRunning` |
/// | `on_panic` | a path to a `fn(mruntime::Panicked) -> Ret` (or a closure) | the return type's [`FromPanic`] |
/// | `allow_raw_spawn` | a flag: allow raw spawns in the body (see below) | off |
///
/// The component and the name may also come first, positionally:
/// `#[recover("onboarding", "handler.create_account", policy = KeepRunning)]`.
///
/// # After a panic
///
/// Under `KeepRunning` the function returns:
/// - `()` for a function without a return type;
/// - `None` for `Option<T>`;
/// - `Err(E::from(panicked))` for `Result<T, E>` where `E: From<mruntime::Panicked>`;
/// - the value of [`FromPanic`] for any type implementing it,
/// - or whatever `on_panic` returns, for any return type.
///
/// Any other return type is a compile error pointing at it. Under `CrashProcess` the process
/// ends after the report (telemetry flushed first), so the return type does not matter and
/// `on_panic` is rejected.
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
    let (args, errors) = args::parse(MacroKind::Recover, args.into());
    match validate::recover(args, errors, item.clone()) {
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
/// `component` (required), `name` (default: the function's name), `policy` (default
/// `KeepRunning`) and `allow_raw_spawn`, as for [`recover`](macro@recover). A panic in the task
/// is reported once and reaches whoever awaits the handle as `Err(TaskError::Panicked(..))`
/// (under `KeepRunning`); under `CrashProcess` it ends the process.
///
/// # Arguments must be `'static`
///
/// The task runs after the call returns, so a borrowed argument (`&T`, `&mut T`, a type with a
/// lifetime, `&self`) is a compile error naming it: take an owned type, share it with `Arc`, or
/// take `self: Arc<Self>`. Every argument is moved into the task as an `async fn` moves its
/// arguments into its future, so an argument the body never reads (a semaphore permit, a drop
/// guard) lives until the task ends. A `-> !` task's handle yields `Infallible`.
///
/// Raw spawns and discarded `catch_unwind` results in the body are rejected, as for
/// [`recover`](macro@recover).
#[proc_macro_attribute]
pub fn safe_task(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    let (args, errors) = args::parse(MacroKind::SafeTask, args.into());
    match validate::safe_task(args, errors, item.clone()) {
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
/// `component` and `name` are required (keyed, or the first two positional strings), `policy`
/// is optional (`KeepRunning` by default), and the future, any expression, comes last. The
/// future must be `Send + 'static`, as for `tokio::spawn`. The task's span is a child of the
/// span current where `safe_go!` is called. It expands to `mruntime::__private::spawn`, never
/// to `tokio::spawn`, so a project-wide clippy ban on raw spawns does not fire on it.
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
