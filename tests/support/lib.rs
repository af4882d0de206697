//! Test support for mruntime's behaviour tests: a real `tracing` subscriber that captures events
//! and spans, runtimes whose every thread reports to it, and a child-process runner for crashes.
#![allow(missing_docs)]

mod capture;
mod child;
pub mod otel;
mod reports;
pub mod service;
pub mod sinks;

pub use capture::{Capture, CapturedEvent, CapturedSpan};
pub use child::{
    CHILD_TIMEOUT, ChildOutcome, child_scenario, mark_crash_start, run_child, run_child_within,
};
pub use reports::{Report, keep_reports, reports_of};

/// Lets every ready task run until all wait on a timer or a cancellation (on the paused clock time
/// only moves when nothing else can run, so this is deterministic).
pub async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
}

/// `component/name` of each site, for comparing shutdown reports and `active()` lists.
pub fn site_names(sites: &[mruntime::Site]) -> Vec<String> {
    sites
        .iter()
        .map(|s| format!("{}/{}", s.component(), s.name()))
        .collect()
}
