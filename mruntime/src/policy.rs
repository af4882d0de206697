//! What happens after a panic has been recovered and reported: the [`PanicPolicy`], and for
//! supervised tasks the [`RestartPolicy`] with its backoff and restart intensity.

mod intensity;
mod jitter;
mod restart;

use std::fmt;

pub(crate) use intensity::{Intensity, Verdict};
pub use restart::RestartPolicy;

/// What a guard does once a panic has been caught and reported.
///
/// The default is [`KeepRunning`](PanicPolicy::KeepRunning): use
/// [`CrashProcess`](PanicPolicy::CrashProcess) only where continuing would corrupt data
/// (balance updates, commits, migrations).
///
/// | Scenario | Policy |
/// |---|---|
/// | HTTP/gRPC handlers, background workers, queue consumers | `KeepRunning` |
/// | balance updates, transaction commits, database migrations | `CrashProcess` |
///
/// ```
/// use mruntime::PanicPolicy;
/// assert_eq!(PanicPolicy::default(), PanicPolicy::KeepRunning);
/// assert_eq!(PanicPolicy::CrashProcess.to_string(), "CrashProcess");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PanicPolicy {
    /// Log, count, trace and report the panic, then carry on: the guarded call returns its
    /// panic value (see [`FromPanic`](crate::FromPanic)) and the caller, the task's siblings
    /// and the runtime go on.
    #[default]
    KeepRunning,
    /// Log, count, trace and report the panic, flush telemetry, then end the process with
    /// [`std::process::abort`], on every runtime flavour.
    CrashProcess,
}

impl PanicPolicy {
    /// The policy's name as used in telemetry labels: `"KeepRunning"` or `"CrashProcess"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PanicPolicy::KeepRunning => "KeepRunning",
            PanicPolicy::CrashProcess => "CrashProcess",
        }
    }
}

impl fmt::Display for PanicPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
