//! The recovered panic ([`Panicked`]) and what the hook captures for guards (a thread-local
//! state the `guard` floor's hook fills and its guards read).

pub(crate) mod capture;
pub(crate) mod panicked;
pub(crate) mod span_trace;

pub use capture::{BacktraceCapture, set_backtrace_capture};
pub(crate) use capture::{Captured, Silenced, Verdict};
pub use panicked::{OpaquePayload, PanicLocation, Panicked};
