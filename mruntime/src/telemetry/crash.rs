//! `CrashProcess`: end the process after the panic was reported.

use crate::panic::Panicked;

/// Ends the process after `panicked` was reported. `std::process::abort` rather than a re-panic:
/// tokio would catch a re-panic in a task and the process would survive.
#[cold]
pub(crate) fn crash(panicked: &Panicked) -> ! {
    // Telemetry flush before the abort lands here (issue: crash without losing data).
    eprintln!("mruntime: CrashProcess: {panicked}; aborting the process");
    std::process::abort()
}
