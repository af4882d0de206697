//! Guards: run a closure or poll a future with panics caught, reported once, and the policy
//! applied. One code path ([`catch`] then [`recovered`]) serves sync calls, futures and tasks.
//!
//! Every drop of a user value that mruntime performs goes through one helper, [`UserValue`]
//! (in `drop.rs`): a guard keeps what it holds for the user (a future, a stream, a body, a
//! factory's closure, a task's output) in a `UserValue`, which has no `Drop` of its own and
//! drops its value only inside a guard of the holder's site, so a panic in a user's `Drop` is
//! reported like any other (one event, one count, one span event, one report) and cannot unwind
//! out of a guard. A holder that forgot would leak, not unwind.

mod drop;
mod from_panic;
mod future;
mod hook;
mod stream;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};

#[cfg(feature = "tower")]
pub(crate) use drop::drop_guarded;
pub(crate) use drop::{DropGuarded, TaskOutput, UserValue, clear_guarded};
pub use from_panic::{FromPanic, RecoverError};
pub use future::GuardedFuture;
pub(crate) use future::TaskFuture;
pub use hook::install_panic_hook;
pub use stream::{GuardedStream, StreamItem, guard_stream};
pub(crate) use stream::{make_async as stream_async, make_sync as stream_sync};

use crate::panic::capture::{self, Frame, Settled};
use crate::panic::{Panicked, Verdict};
use crate::policy::PanicPolicy;
use crate::site::Site;
use crate::telemetry;

/// Runs `f` as the innermost guard on this thread; a panic becomes a reported [`Panicked`] and
/// the site's policy applies.
#[inline]
pub(crate) fn catch<T>(site: &Site, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_as(site, Recovery::Guard, f)
}

/// Who decides what follows a caught panic once it has been reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// A guard: the site's policy applies at once.
    Guard,
    /// Attempt `n` (1-based) of a supervised task: the panic is reported with its attempt
    /// number, and the supervisor restarts the task or gives up and then calls [`apply_policy`].
    Attempt(u32),
}

/// [`catch`], with the panic recovered as `recovery` says.
#[inline]
pub(crate) fn catch_as<T>(
    site: &Site,
    recovery: Recovery,
    f: impl FnOnce() -> T,
) -> Result<T, Panicked> {
    hook::ensure_panic_hook();
    let frame = Frame::new(site);
    let entered = frame.enter();
    // The value is written in place rather than returned through `catch_unwind`, whose result
    // would be copied several times (a response future or a body frame is a few hundred bytes).
    let mut value = None;
    match panic::catch_unwind(AssertUnwindSafe(|| value = Some(f()))) {
        Ok(()) => {
            if entered.exit() {
                report_settled(capture::take_settled(&frame));
            }
            match value {
                Some(value) => Ok(value),
                None => unreachable!("the guarded closure returned"),
            }
        }
        Err(payload) => {
            // Still the innermost guard: `recovered` takes this guard's capture of the panic.
            let panicked = recovered(site, payload, recovery);
            let _ = entered.exit();
            Err(panicked)
        }
    }
}

/// The one place a caught panic is turned into a [`Panicked`] and reported (exactly once), and,
/// for a guard, its policy applied. Called while the guard that caught it is still the
/// innermost guard: it takes that guard's capture of this very panic, and reports the panics
/// raised under the guard that other code caught. Under `CrashProcess` the crash deadline is
/// armed before the report starts, so a sink that hangs cannot keep the process alive.
#[cold]
#[inline(never)]
pub(crate) fn recovered(
    site: &Site,
    payload: Box<dyn std::any::Any + Send>,
    recovery: Recovery,
) -> Panicked {
    let attempt = match recovery {
        Recovery::Guard => 1,
        Recovery::Attempt(n) => n,
    };
    let captured = capture::take_captured(&*payload);
    let verdict = captured.as_ref().map(|c| c.verdict);
    let panicked = Panicked::new(*site, payload, captured).with_attempt(attempt);
    let settled = capture::take_settled_of_innermost();
    if let Some(Verdict::Suppress { status }) = verdict {
        // Sampled out in the hook (never under `CrashProcess`): counted, span marked, no more.
        telemetry::report_suppressed(site, status);
        report_settled_if_any(settled);
        return panicked;
    }
    match (recovery, panicked.policy()) {
        (Recovery::Guard, PanicPolicy::CrashProcess) => telemetry::crash(&panicked, || {
            telemetry::report(&panicked);
            report_settled_if_any(settled);
        }),
        (Recovery::Attempt(_), PanicPolicy::CrashProcess) => {
            telemetry::report_under_deadline(&panicked);
            report_settled_if_any(settled);
        }
        _ => {
            telemetry::report(&panicked);
            report_settled_if_any(settled);
        }
    }
    panicked
}

/// Applies the policy of a reported panic: under `CrashProcess` the process ends here, after
/// `last_words` (which runs under the crash deadline, after the stderr line).
pub(crate) fn apply_policy(panicked: &Panicked, last_words: impl FnOnce()) {
    if panicked.policy() == PanicPolicy::CrashProcess {
        telemetry::crash(panicked, last_words);
    }
    last_words();
}

/// [`report_settled`] when there is anything to report (a panic path seldom has).
#[inline]
fn report_settled_if_any(settled: Settled) {
    if !settled.captures.is_empty() || settled.lost > 0 {
        report_settled(settled);
    }
}

/// Reports, once each, the panics raised under an exiting guard that other code caught (a
/// `catch_unwind` of the user's, tokio's task harness under a `LocalSet` or `block_on`): marked
/// caught elsewhere, with no policy applied (the code that caught a panic decided what follows).
///
/// `extern "C"`: it cannot unwind (each sink is contained, and the stderr line's write cannot
/// panic), so the guards it is inlined into need no unwind-table entry for the call, which every
/// panic they catch would otherwise have the personality routine read past. Rust calls only.
#[cold]
#[inline(never)]
#[allow(improper_ctypes_definitions)]
extern "C" fn report_settled(settled: Settled) {
    for capture in settled.captures {
        match capture.verdict() {
            Verdict::Suppress { status } => telemetry::report_suppressed(capture.site(), status),
            Verdict::Report { .. } => {
                telemetry::report(&Panicked::caught_elsewhere_from(capture));
            }
        }
    }
    if settled.lost > 0 {
        telemetry::egress::write_stderr_line(format_args!(
            "mruntime: {} panics caught by code outside mruntime's guards on this thread were not \
             reported: more than {} were waiting for their guards to exit",
            settled.lost,
            capture::CAPTURE_QUEUE_LIMIT
        ));
    }
}

/// A panic of a task that escaped every guard and that tokio caught (a subscriber panicking as
/// the task's span is entered, say): reported once when the task's handle receives it; no
/// policy applies, the task being over.
#[cold]
pub(crate) fn escaped(site: &Site, payload: Box<dyn std::any::Any + Send>) -> Panicked {
    let panicked = Panicked::new(*site, payload, None);
    telemetry::report(&panicked);
    panicked
}

/// With `panic = "abort"` nothing unwinds, so no guard can catch: the hook reports the panic
/// (log, metric, span, reporter) under the crash deadline, flushes, and the process aborts
/// whatever the policy.
#[cfg(panic = "abort")]
#[cold]
pub(crate) fn recovered_in_hook(
    site: Site,
    message: String,
    captured: crate::panic::Captured,
) -> ! {
    let panicked = Panicked::from_hook(site, message, captured);
    telemetry::crash(&panicked, || {
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"mruntime: built with panic = \"abort\": guards cannot recover, the process ends \
              after reporting\n",
        );
        telemetry::report(&panicked);
    })
}

/// Runs a closure in a guard inside its own span, as `#[recover]` on a sync fn does.
#[inline]
pub(crate) fn run_sync<T>(site: &Site, f: impl FnOnce() -> T) -> Result<T, Panicked> {
    let _span = telemetry::enter_guard_span(site);
    catch(site, f)
}

/// Runs `f`, catching a panic in it: the Go `defer mruntime.RecoverWithPolicyAndContext(...)`.
///
/// The call runs inside a tracing span (`component`, `name`, `policy`, `otel.name`) whose parent
/// is the current span. A panic is logged, counted, traced and reported once, then:
/// - under [`PanicPolicy::KeepRunning`] this returns `Err(Panicked)`;
/// - under [`PanicPolicy::CrashProcess`] the process ends after telemetry is flushed, and this
///   never returns.
///
/// `#[recover]` on a sync fn expands to the same guard.
///
/// A panic raised inside `f` but caught there by other code (your own `catch_unwind`, tokio's
/// task harness when `f` drives a `LocalSet` or a `block_on`) is reported once too, when this
/// guard returns, marked [`caught_elsewhere`](Panicked::caught_elsewhere), and no policy applies
/// to it. The span is entered and exited around the guard: a subscriber that panics in
/// `on_enter` or `on_exit` panics in the caller, where an enclosing guard recovers it.
///
/// ```
/// use mruntime::PanicPolicy;
///
/// let total = mruntime::guard("ledger", "sum", PanicPolicy::KeepRunning, || 2 + 2);
/// assert_eq!(total.unwrap(), 4);
///
/// let failed = mruntime::guard("ledger", "sum", PanicPolicy::KeepRunning, || -> u32 {
///     panic!("overflow")
/// });
/// assert_eq!(failed.unwrap_err().message(), "overflow");
/// ```
pub fn guard<T>(
    component: &'static str,
    name: &'static str,
    policy: PanicPolicy,
    f: impl FnOnce() -> T,
) -> Result<T, Panicked> {
    run_sync(&Site::new(component, name, policy), f)
}

/// Wraps `future` in a guard: polling it catches panics, and a panic ends the future with
/// `Err(Panicked)` (under [`PanicPolicy::KeepRunning`]) or ends the process (under
/// [`PanicPolicy::CrashProcess`]).
///
/// The future runs inside a span created now, as a child of the current span. `#[recover]` on an
/// async fn expands to the same guard.
///
/// ```
/// use mruntime::PanicPolicy;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let result = mruntime::guard_future("onboarding", "send-welcome", PanicPolicy::KeepRunning, async {
///     panic!("smtp down")
/// })
/// .await;
/// assert_eq!(result.unwrap_err().to_string().split(": ").last(), Some("smtp down"));
/// # }
/// ```
pub fn guard_future<F: Future>(
    component: &'static str,
    name: &'static str,
    policy: PanicPolicy,
    future: F,
) -> GuardedFuture<F, Site> {
    let site = Site::new(component, name, policy);
    let span = telemetry::guard_span(&site);
    GuardedFuture::new(future, site, span)
}
