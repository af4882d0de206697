//! The mruntime guide: everything past the quick start, one chapter per module, every example a
//! doctest.
//!
//! Start with [`policies`] and [`macros`], then read the chapter for what you are building:
//!
//! | chapter | what it covers |
//! |---|---|
//! | [`policies`] | `KeepRunning` or `CrashProcess`: which code gets which |
//! | [`macros`] | `#[recover]`, `#[safe_task]`, `safe_go!` in detail: arguments, what a recovered panic returns, the compile errors, the function API under them |
//! | [`supervision`] | restarts with backoff and an intensity limit, `TaskContext`, `TaskGroup` and shutdown within a deadline |
//! | [`health`] | readiness and liveness from supervision, a drain and a crash: `/readyz`, `/livez`, `grpc.health.v1` |
//! | [`redaction`] | what is redacted from every text that leaves the process: keys, values on the next line, credentials by their form, disguised keys, production mode |
//! | [`span_trace`] | the span chain at the panic point in every report, and the Sentry hub carried into spawned tasks |
//! | [`sampling`] | panic storms: reports sampled per site, every count kept exact |
//! | [`telemetry`] | what one panic produces (tracing, OpenTelemetry traces, logs and metrics), wiring it in a service, Prometheus |
//! | [`sentry`] | error reporters, and the Sentry one |
//! | [`crash`] | how `CrashProcess` ends the process within a deadline without losing telemetry |
//! | [`panic_abort`] | what a `panic = "abort"` build still gets |
//! | [`safe_spawns`] | raw spawns rejected at compile time, and the `clippy.toml` that bans them project-wide |
//! | [`axum`] | the tower layer, streaming bodies, `#[recover]` on handlers, workers next to a server |
//! | [`grpc`] | tonic: the layer, `#[recover]` on service methods, server streams |
//! | [`how_it_works`] | the panic hook, captures per guard, panics caught by other code, containment |
//! | [`guarantees`] | what mruntime promises, and the test that shows each |
//!
//! Measured performance, per case and machine, is in the repository's `docs/performance.md`.

#[doc = include_str!("policies.md")]
pub mod policies {}

#[doc = include_str!("macros.md")]
pub mod macros {}

#[doc = include_str!("supervision.md")]
pub mod supervision {}

#[doc = include_str!("health.md")]
pub mod health {}

#[doc = include_str!("redaction.md")]
pub mod redaction {}

#[doc = include_str!("span_trace.md")]
pub mod span_trace {}

#[doc = include_str!("sampling.md")]
pub mod sampling {}

#[doc = include_str!("telemetry.md")]
pub mod telemetry {}

#[doc = include_str!("sentry.md")]
pub mod sentry {}

#[doc = include_str!("crash.md")]
pub mod crash {}

#[doc = include_str!("panic_abort.md")]
pub mod panic_abort {}

#[doc = include_str!("safe_spawns.md")]
pub mod safe_spawns {}

#[doc = include_str!("axum.md")]
pub mod axum {}

#[doc = include_str!("grpc.md")]
pub mod grpc {}

#[doc = include_str!("how_it_works.md")]
pub mod how_it_works {}

#[doc = include_str!("guarantees.md")]
pub mod guarantees {}
