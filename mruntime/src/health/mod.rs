//! Health that tells the truth: readiness and liveness derived from what mruntime knows of every
//! supervised task, a drain, a crash in progress, and checks of your own.
//!
//! - Every task spawned with a restart policy (`restart(..)` in the macros, [`Task::restart`](crate::Task::restart))
//!   is a health *component*, keyed by its site (component, name): `Serving` while an attempt
//!   runs, `Restarting` between attempts, `Failed` once it gave up (sticky), `Stopped` when it
//!   returned or was cancelled. A task without a restart policy opts in with
//!   `#[safe_task(.., health)]` or [`Task::health`](crate::Task::health): it is `Failed` once it
//!   ends by a panic. One-shot tasks (`safe_go!` without `health`, [`spawn`](crate::spawn)) are
//!   never components. The states, and when each begins and ends: [`HealthState`].
//! - Checks of your own: [`component`] gives a [`HealthComponent`] (`Starting` until
//!   [`set_serving`](HealthComponent::set_serving)).
//! - [`drain`]: from now on the process is not ready (call it first in a graceful shutdown).
//! - A `CrashProcess` crash makes the process neither ready nor live before its stderr line,
//!   its report and its flush.
//!
//! **Ready**: no component `Failed` or `Starting`, not drained, not crashing. **Live**: not
//! crashing. Read it with [`report`], or follow it with [`subscribe`]; serve it over HTTP with
//! `mruntime::tower::HealthService` (feature `tower`) and over `grpc.health.v1` with
//! `mruntime::tonic::serve_health` (feature `tonic-health`).
//!
//! Where it sits: supervision (the task layer) reports its transitions here and health never
//! calls back into it; the tower and tonic layers serve it. The guide's
//! [health chapter](crate::guide::health) shows the wiring for axum and tonic.
//!
//! Each change emits an INFO tracing event `health.changed` (`component`, `name`, `from`, `to`;
//! WARN when `to` is `failed`) and sets the gauge `task_up{component, goroutine_name}` (1 while
//! `Serving` or `Restarting`, else 0) beside `panic_recovered_total`.
//!
//! ```
//! use mruntime::health::{self, HealthState};
//! use mruntime::{RestartPolicy, Task};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A worker that panics on every attempt gives up after two restarts...
//! let worker = Task::new("ledger", "balance-sync")
//!     .restart(RestartPolicy::from_millis(2, 60_000, 10, 10))
//!     .spawn(|_ctx| async { panic!("database password=hunter2 rejected") });
//! assert!(worker.await.is_err());
//!
//! // ...and the process is no longer ready, saying why (the secret redacted).
//! let report = health::report();
//! assert!(!report.is_ready() && report.is_live());
//! let sync = report.get("ledger", "balance-sync").unwrap();
//! assert_eq!(sync.state(), HealthState::Failed);
//! assert_eq!(sync.restarts(), 2);
//! assert_eq!(sync.last_panic(), Some("database password=[REDACTED] rejected"));
//! # }
//! ```

mod component;
pub(crate) mod registry;
mod report;

pub use component::HealthComponent;
pub use report::{ComponentHealth, HealthReport, HealthState};

use tokio::sync::watch;

/// The health of the process now.
///
/// ```
/// let report = mruntime::health::report();
/// assert!(report.is_live());
/// ```
pub fn report() -> HealthReport {
    registry::report()
}

/// A receiver of the health report: it holds the report of now, and changes only when something
/// changed (a state, a restart count, a drain, a crash). `changed().await` waits for the next
/// change. Needs no runtime to be called.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut health = mruntime::health::subscribe();
/// let db = mruntime::health::component("storage", "postgres");
/// health.changed().await.unwrap();
/// assert!(!health.borrow_and_update().is_ready()); // the pool is Starting
/// db.set_serving();
/// health.changed().await.unwrap();
/// assert!(health.borrow_and_update().is_ready());
/// # }
/// ```
pub fn subscribe() -> watch::Receiver<HealthReport> {
    registry::subscribe()
}

/// From now on the process is not ready, for good (grpc-go's `Shutdown()`): call it first in a
/// graceful shutdown, before [`TaskGroup::shutdown`](crate::TaskGroup::shutdown), so that load
/// balancers stop sending requests while the workers finish. Liveness is unchanged. Emits an
/// INFO event `health.draining` the first time.
///
/// ```
/// mruntime::health::drain();
/// let report = mruntime::health::report();
/// assert!(report.is_draining() && !report.is_ready() && report.is_live());
/// ```
pub fn drain() {
    registry::drain()
}

/// Registers a check of your own ("the database pool is up", "the Kafka consumer joined") as the
/// component `component`/`name`, `Starting` (not ready) until
/// [`set_serving`](HealthComponent::set_serving). Dropping the returned handle removes it.
///
/// ```
/// use mruntime::health::{self, HealthState};
///
/// let kafka = health::component("ingest", "kafka-consumer");
/// assert!(!health::report().is_ready());
/// kafka.set_serving(); // joined the consumer group
/// assert_eq!(kafka.state(), HealthState::Serving);
/// kafka.set_failed("rebalance timed out");
/// assert_eq!(health::report().get("ingest", "kafka-consumer").unwrap().reason(), Some("rebalance timed out"));
/// drop(kafka);
/// assert!(health::report().get("ingest", "kafka-consumer").is_none());
/// ```
pub fn component(component: &'static str, name: &'static str) -> HealthComponent {
    HealthComponent::register(component, name)
}
