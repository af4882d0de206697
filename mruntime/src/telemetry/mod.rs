//! Telemetry: the spans guards run in, the one report of every recovered panic, the crash path.

mod crash;
mod event;
mod limits;
mod restart;
mod span;

pub(crate) use crash::crash;
pub(crate) use event::report;
pub(crate) use restart::{gave_up, restarted};
pub(crate) use span::{attempt_span, guard_span, task_span};
