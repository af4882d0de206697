//! The recovered panic ([`Panicked`]) and how it is captured (the hook and its thread-local slot).

mod hook;
pub(crate) mod panicked;

pub use hook::{BacktraceCapture, install_panic_hook, set_backtrace_capture};
pub(crate) use hook::{Captured, Silenced, enter_guard, exit_guard, take_captured};
pub use panicked::{OpaquePayload, PanicLocation, Panicked};
