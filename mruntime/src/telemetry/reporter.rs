//! The error reporter sink (Go's `SetErrorReporter`): Sentry or any error tracker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use crate::panic::Panicked;

/// Receives every recovered panic, once: the hook for Sentry, Bugsnag, Rollbar or your own
/// error tracker.
///
/// The [`Panicked`] it receives carries the tags and context to send: `component()`, `name()`,
/// `policy()`, `location()`, `backtrace()`, `attempt()`, and `message()` (already redacted per
/// [`set_production_mode`](crate::set_production_mode) and truncated to 1024 characters).
///
/// `report` runs on the thread that recovered the panic: keep it quick (queue and send in the
/// background, as the Sentry client does). A panic inside it is contained.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use mruntime::{ErrorReporter, Panicked, PanicPolicy};
///
/// #[derive(Clone, Default)]
/// struct Collect(Arc<Mutex<Vec<String>>>);
///
/// impl ErrorReporter for Collect {
///     fn report(&self, panic: &Panicked) {
///         self.0.lock().unwrap().push(format!("{}/{}: {}", panic.component(), panic.name(), panic.message()));
///     }
/// }
///
/// let seen = Collect::default();
/// mruntime::set_error_reporter(seen.clone());
/// let _ = mruntime::guard("billing", "invoice", PanicPolicy::KeepRunning, || panic!("no customer"));
/// mruntime::clear_error_reporter();
/// assert_eq!(*seen.0.lock().unwrap(), ["billing/invoice: no customer"]);
/// ```
pub trait ErrorReporter: Send + Sync + 'static {
    /// Reports one recovered panic.
    fn report(&self, panic: &Panicked);

    /// Sends what is queued, waiting at most `timeout`; called before a `CrashProcess` abort.
    /// Returns whether everything was sent.
    fn flush(&self, timeout: Duration) -> bool {
        let _ = timeout;
        true
    }
}

static REPORTER: RwLock<Option<Arc<dyn ErrorReporter>>> = RwLock::new(None);
/// Whether [`REPORTER`] holds one (written under its lock): without one, a report reads this
/// and not the lock.
static REPORTER_SET: AtomicBool = AtomicBool::new(false);

/// Sets the error reporter that every recovered panic is sent to, replacing any previous one.
pub fn set_error_reporter(reporter: impl ErrorReporter) {
    let mut slot = REPORTER.write().unwrap_or_else(PoisonError::into_inner);
    *slot = Some(Arc::new(reporter));
    REPORTER_SET.store(true, Ordering::Release);
}

/// Removes the error reporter; recovered panics are still logged, counted and traced.
pub fn clear_error_reporter() {
    let mut slot = REPORTER.write().unwrap_or_else(PoisonError::into_inner);
    *slot = None;
    REPORTER_SET.store(false, Ordering::Release);
}

pub(crate) fn current() -> Option<Arc<dyn ErrorReporter>> {
    REPORTER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

pub(crate) fn report(panic: &Panicked) {
    if !REPORTER_SET.load(Ordering::Acquire) {
        return;
    }
    if let Some(reporter) = current() {
        reporter.report(panic);
    }
}
