//! Policy-based panic recovery with observability for tokio services, done at compile time.
//!
//! A panic in a tokio task is caught by tokio, printed by the default hook, and lost: no metric
//! moves, no span is marked, no error tracker hears of it, and a worker that died is still
//! "running" in everyone's mind. A panic in a critical section (a balance update, a commit) is
//! survived just as silently, though continuing may corrupt data. mruntime makes the right thing
//! the easy thing: three macros, and every recovered panic is
//!
//! - **logged** once, as an ERROR event `panic.recovered` with its component, name, policy,
//!   message, source location and (when enabled) backtrace;
//! - **counted** in the OpenTelemetry counter `panic_recovered_total{component, goroutine_name, policy}`;
//! - **traced**: the guarded call's span gets a `panic.recovered` event, an `exception` event and
//!   status Error;
//! - **reported** to your error tracker (Sentry built in);
//!
//! and then either **survived** ([`KeepRunning`](PanicPolicy::KeepRunning)) or allowed to **end
//! the process** ([`CrashProcess`](PanicPolicy::CrashProcess), for code where continuing would
//! corrupt data) after telemetry is flushed. It is a Rust port of a Go package
//! (`mruntime.SafeGo*` / `Recover*`) whose metric, label and event names it keeps, so one
//! dashboard serves Go and Rust services.
//!
//! # Quick start
//!
//! ```
//! use mruntime::{Panicked, TaskError, recover, safe_go, safe_task};
//!
//! #[derive(Debug)]
//! struct ApiError;
//! impl From<Panicked> for ApiError {
//!     fn from(_: Panicked) -> Self { ApiError } // already logged, counted, traced, reported
//! }
//!
//! // A handler: a panic becomes Err(ApiError::from(panicked)), which your framework turns into a 500.
//! #[recover(component = "onboarding", name = "handler.create_account")]
//! async fn create_account(owner: String) -> Result<u64, ApiError> {
//!     assert!(!owner.is_empty(), "owner must not be empty");
//!     Ok(42)
//! }
//!
//! // A worker: calling it spawns it as a guarded task and returns a TaskHandle at once.
//! #[safe_task(component = "transaction", name = "balance-sync")]
//! async fn balance_sync(rounds: u32) -> u32 {
//!     rounds * 2
//! }
//!
//! // A critical section: a panic is reported, telemetry flushed, then the process aborts.
//! #[recover(component = "transaction", name = "update_balance", policy = CrashProcess)]
//! fn update_balance(balance: &mut i64, amount: i64) {
//!     *balance = balance.checked_add(amount).expect("balance overflow");
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     assert_eq!(create_account("ana".into()).await.unwrap(), 42);
//!     assert!(create_account(String::new()).await.is_err()); // recovered: the program goes on
//!     assert_eq!(balance_sync(3).await.unwrap(), 6);
//!
//!     let mut balance = 10;
//!     update_balance(&mut balance, 5);
//!
//!     // Instead of a bare tokio::spawn:
//!     let handle = safe_go!(component = "notification", name = "email-sender", async move {
//!         panic!("smtp down")
//!     });
//!     assert!(matches!(handle.await, Err(TaskError::Panicked(_))));
//! }
//! ```
//!
//! The macros expand to the function API ([`guard`], [`guard_future`], [`guard_stream`],
//! [`spawn`], [`spawn_blocking`], [`Task`]), which you can call directly too. Background workers
//! get a [`TaskContext`] (cancellation, component, name, attempt), restarts with backoff and an
//! intensity limit ([`RestartPolicy`]), and a [`TaskGroup`] that shuts them down within a
//! deadline and names the ones that did not stop ([`ShutdownReport`]).
//!
//! # The guide
//!
//! Everything past the quick start is in [`guide`], one chapter per module:
//! [`policies`](guide::policies), [`macros`](guide::macros),
//! [`supervision`](guide::supervision), [`health`](guide::health), [`sampling`](guide::sampling),
//! [`redaction`](guide::redaction), [`span_trace`](guide::span_trace),
//! [`telemetry`](guide::telemetry),
//! [`sentry`](guide::sentry), [`crash`](guide::crash), [`panic_abort`](guide::panic_abort),
//! [`safe_spawns`](guide::safe_spawns), [`axum`](guide::axum), [`grpc`](guide::grpc),
//! [`how_it_works`](guide::how_it_works), [`guarantees`](guide::guarantees).
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `sentry` | [`sentry::SentryReporter`]: recovered panics as Sentry events (sentry-core 0.49) |
//! | `tower` | [`tower::RecoverLayer`]: axum, hyper and tonic servers, the handler, its future and its streaming body guarded |
//! | `tonic` | `From<Panicked> for tonic::Status` (tonic 0.14): `#[recover]` on service methods, [`guard_stream`] on their streams |
//! | `tonic-health` | `tonic::serve_health`: `grpc.health.v1` statuses driven by [`health`] (tonic-health 0.14; turns on `tonic`) |
//!
//! [`health`] (readiness and liveness) is in every build; its HTTP probes,
//! [`tower::HealthService`], come with `tower`.
//!
//! Each builds alone; none is on by default.
//!
//! # Pre-1.0 crates in the public API
//!
//! These types of crates before their 1.0 appear in mruntime's public API, so upgrading one of
//! these crates to a new 0.x is a breaking change of mruntime (a new 0.x of mruntime too), and
//! your crate must use the same 0.x to pass or take them:
//!
//! | crate | in mruntime's API |
//! |---|---|
//! | `opentelemetry` 0.33 | [`init_panic_metrics`] takes an `opentelemetry::metrics::Meter`; the counter goes through `opentelemetry::global`, so your meter provider must be set through the same 0.33 |
//! | `tokio-util` 0.7 | [`CancellationToken`] (re-exported) in [`TaskContext`]; [`TaskContext::cancelled`] returns its `WaitForCancellationFuture` |
//! | `futures-core` 0.3 | `Stream` and `FusedStream` for [`GuardedStream`], the bound of [`guard_stream`] and of `#[recover]` on `impl Stream` |
//! | `sentry-core` 0.49 (feature `sentry`) | [`SentryReporter::with_hub`](sentry::SentryReporter::with_hub) takes a `Hub`, [`SentryReporter::event`](sentry::SentryReporter::event) returns an `Event` |
//! | `tower-layer`, `tower-service` 0.3 (feature `tower`) | [`RecoverLayer`](tower::RecoverLayer) implements `Layer`, [`RecoverService`](tower::RecoverService) implements `Service` |
//! | `tonic` 0.14 (feature `tonic`) | `impl From<Panicked> for tonic::Status` |
//! | `tonic-health` 0.14 (feature `tonic-health`) | `tonic::serve_health` takes a `tonic_health::server::HealthReporter` |
//! | `tokio` 1 (`sync`) | [`health::subscribe`] returns a `tokio::sync::watch::Receiver` |
//!
//! Also in the API, at 1.x: `http` and `http-body` (feature `tower`: the request, response and
//! body types of the layer) and `tokio` (a runtime to spawn on). The tracing events and spans
//! reach your subscriber through `tracing` 0.1, and the span's `exception` event and status
//! through `tracing-opentelemetry` 0.34, with no type of theirs in the API.
#![warn(missing_docs, unreachable_pub, rust_2018_idioms)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod grpc;
mod guard;
pub mod guide;
pub mod health;
mod panic;
mod policy;
mod site;
mod spawn;
mod stderr;
mod task;
mod telemetry;
mod text;

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
    Alphabet, ErrorReporter, PanicSampling, SecretPattern, SecretPatternError, add_secret_keys,
    add_secret_patterns, clear_error_reporter, enable_task_metrics, init_panic_metrics, on_crash,
    set_crash_flush_timeout, set_error_reporter, set_panic_sampling, set_production_mode,
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
#[cfg_attr(docsrs, doc(cfg(feature = "sentry")))]
pub mod sentry;

#[cfg(feature = "tonic")]
#[cfg_attr(docsrs, doc(cfg(feature = "tonic")))]
pub mod tonic;

#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use mruntime_macros::{recover, safe_go, safe_task};

/// The README's Rust snippets, compiled and run as doctests (`cargo test --doc`) so that one
/// that drifts from the API fails. `README.md` beside `Cargo.toml` (a link to the workspace's)
/// is also the one the published package carries.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
