//! A process-wide error reporter that keeps every report, for tests that run in parallel: each
//! test reads back the reports of its own (unique) component.

use std::sync::{Arc, Mutex, OnceLock};

use mruntime::{ErrorReporter, Panicked};

/// One report as the reporter received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub component: String,
    pub name: String,
    pub message: String,
    pub line: Option<u32>,
    pub attempt: u32,
    pub caught_elsewhere: bool,
}

#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<Report>>>);

impl ErrorReporter for Keep {
    fn report(&self, p: &Panicked) {
        let report = Report {
            component: p.component().into(),
            name: p.name().into(),
            message: p.message().into(),
            line: p.location().map(|l| l.line()),
            attempt: p.attempt(),
            caught_elsewhere: p.caught_elsewhere(),
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(report);
    }
}

fn keep() -> &'static Keep {
    static KEEP: OnceLock<Keep> = OnceLock::new();
    KEEP.get_or_init(Keep::default)
}

/// Installs the keeping reporter (again, if a test replaced it); call before a test's panics.
pub fn keep_reports() {
    mruntime::set_error_reporter(keep().clone());
}

/// The reports of `component`, in the order they were made.
pub fn reports_of(component: &str) -> Vec<Report> {
    keep()
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|r| r.component == component)
        .cloned()
        .collect()
}
