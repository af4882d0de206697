//! Policy-based panic recovery with observability for tokio services, done at compile time.
//!
//! A panic in a tokio task is caught by tokio, printed by the default hook and then lost. With
//! mruntime every recovered panic is logged with its location and backtrace, counted, marked on
//! the trace and reported, exactly once, and then either survived
//! ([`PanicPolicy::KeepRunning`]) or allowed to end the process ([`PanicPolicy::CrashProcess`],
//! for code where continuing would corrupt data).
//!
//! ```
//! use mruntime::{recover, safe_go, safe_task, Panicked, TaskError};
//!
//! #[derive(Debug)]
//! struct ApiError(String);
//! impl From<Panicked> for ApiError {
//!     fn from(p: Panicked) -> Self { ApiError(p.to_string()) }
//! }
//!
//! // A panic in here becomes Err(ApiError::from(panicked)).
//! #[recover(component = "onboarding", name = "handler.create_account")]
//! async fn create_account(name: String) -> Result<u64, ApiError> {
//!     assert!(!name.is_empty(), "name must not be empty");
//!     Ok(42)
//! }
//!
//! // Calling it spawns it as a guarded task and returns a TaskHandle at once.
//! #[safe_task(component = "transaction", name = "balance-sync")]
//! async fn balance_sync(rounds: u32) -> u32 {
//!     rounds * 2
//! }
//!
//! # #[tokio::main] async fn main() {
//! assert_eq!(create_account("ana".into()).await.unwrap(), 42);
//! assert!(create_account(String::new()).await.is_err());
//! assert_eq!(balance_sync(3).await.unwrap(), 6);
//!
//! // Instead of a bare tokio::spawn:
//! let handle = safe_go!(component = "notification", name = "email-sender", async move {
//!     panic!("smtp down")
//! });
//! assert!(matches!(handle.await, Err(TaskError::Panicked(_))));
//! # }
//! ```
//!
//! The macros expand to the function API ([`guard`], [`guard_future`], [`guard_stream`], [`spawn`],
//! [`spawn_blocking`], [`Task`]), which you can call directly too.
//!
//! Background workers get what Go's `ctx` gave them and more: a [`TaskContext`] (cancellation,
//! component, name, attempt), restarts with backoff and an intensity limit ([`RestartPolicy`]),
//! and a [`TaskGroup`] that shuts them down within a deadline and names the ones that did not
//! stop ([`ShutdownReport`]).
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]

mod grpc;
mod guard;
mod panic;
mod policy;
mod site;
mod spawn;
mod task;
mod telemetry;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use guard::{
    FromPanic, GuardedFuture, GuardedStream, RecoverError, StreamItem, guard, guard_future,
    guard_stream, install_panic_hook,
};
pub use panic::{BacktraceCapture, OpaquePayload, PanicLocation, Panicked, set_backtrace_capture};
pub use policy::{PanicPolicy, RestartPolicy};
pub use site::{AsSite, Site};
pub use task::{
    NoRestart, PanicSummary, ShutdownReport, Task, TaskContext, TaskError, TaskFactory, TaskGroup,
    TaskHandle, spawn, spawn_blocking,
};
pub use telemetry::{
    ErrorReporter, add_secret_keys, clear_error_reporter, enable_task_metrics, init_panic_metrics,
    on_crash, set_crash_flush_timeout, set_error_reporter, set_production_mode,
};
/// The cancellation token of a [`TaskContext`] (re-exported from `tokio_util`).
pub use tokio_util::sync::CancellationToken;
/// tracing-error 0.2's layer that records each span's fields for [`Panicked::span_trace`]
/// (re-exported, so `mruntime::ErrorLayer` and `tracing_error::ErrorLayer` are one type).
///
/// Add it to your subscriber and every recovered panic carries the chain of spans, with their
/// fields, that was current where it was raised:
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(mruntime::ErrorLayer::default());
/// # let _ = subscriber;
/// // tracing::subscriber::set_global_default(subscriber).unwrap();
/// ```
pub use tracing_error::ErrorLayer;

#[cfg(feature = "sentry")]
pub mod sentry;

#[cfg(feature = "tonic")]
pub mod tonic;

#[cfg(feature = "tower")]
pub mod tower;

pub use mruntime_macros::{recover, safe_go, safe_task};
