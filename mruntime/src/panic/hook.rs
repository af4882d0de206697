//! The panic hook and the thread-local slot it fills.
//!
//! By the time `catch_unwind` returns, the stack is unwound and only the payload is left. So the
//! hook, which runs before unwinding, stashes location and backtrace in a thread-local slot
//! while a guard is active on this thread; the innermost guard takes it when it catches. Outside
//! every guard the hook hands the panic to the previous hook untouched.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::panic::{self, PanicHookInfo};
use std::ptr;
use std::sync::Once;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::panic::PanicLocation;
use crate::site::Site;

/// What the hook captured for the innermost guard.
pub(crate) struct Captured {
    pub(crate) location: Option<PanicLocation>,
    pub(crate) backtrace: Option<Backtrace>,
}

thread_local! {
    /// The site of the innermost active guard on this thread, null outside every guard.
    static INNERMOST: Cell<*const Site> = const { Cell::new(ptr::null()) };
    /// What the hook captured for the innermost guard, taken when that guard catches.
    static SLOT: RefCell<Option<Captured>> = const { RefCell::new(None) };
    /// Set while mruntime itself reports: a fault in a subscriber or reporter is contained and
    /// described by mruntime once, not printed again by the hook.
    static SILENCED: Cell<bool> = const { Cell::new(false) };
}

/// When the hook captures a backtrace for a panic inside a guard.
///
/// ```
/// mruntime::set_backtrace_capture(mruntime::BacktraceCapture::Never);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BacktraceCapture {
    /// As [`Backtrace::capture`]: when `RUST_LIB_BACKTRACE` or `RUST_BACKTRACE` is set and not `0`.
    #[default]
    Env,
    /// Always, as [`Backtrace::force_capture`] (costs tens of microseconds per panic).
    Always,
    /// Never.
    Never,
}

static BACKTRACE_CAPTURE: AtomicU8 = AtomicU8::new(0);

/// Sets when backtraces are captured for panics inside guards (default
/// [`BacktraceCapture::Env`]). Takes effect for the next panic, on every thread.
pub fn set_backtrace_capture(capture: BacktraceCapture) {
    let raw = match capture {
        BacktraceCapture::Env => 0,
        BacktraceCapture::Always => 1,
        BacktraceCapture::Never => 2,
    };
    BACKTRACE_CAPTURE.store(raw, Ordering::Relaxed);
}

fn capture_backtrace() -> Option<Backtrace> {
    let backtrace = match BACKTRACE_CAPTURE.load(Ordering::Relaxed) {
        0 => Backtrace::capture(),
        1 => Backtrace::force_capture(),
        _ => return None,
    };
    (backtrace.status() == BacktraceStatus::Captured).then_some(backtrace)
}

static INSTALL: Once = Once::new();

/// Installs mruntime's panic hook, chaining the hook that is installed now.
///
/// Every guard calls this on first use, so calling it yourself is only needed when you install a
/// hook of your own (a crash reporter's, say) after mruntime's first guard ran: install yours
/// first, then call this, and both work. Calling it more than once does nothing.
///
/// Inside a guard the hook records the panic's location and backtrace for the guard to report and
/// prints nothing (the guard reports it once). Outside every guard it calls the previous hook
/// unchanged.
pub fn install_panic_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !hook(info) {
                previous(info);
            }
        }));
    });
}

/// Returns whether the panic was taken by a guard (so the previous hook must not see it).
fn hook(info: &PanicHookInfo<'_>) -> bool {
    if SILENCED.try_with(Cell::get).unwrap_or(false) {
        return true;
    }
    let innermost = INNERMOST.try_with(Cell::get).unwrap_or(ptr::null());
    if innermost.is_null() {
        return false;
    }
    let captured = Captured {
        location: info
            .location()
            .map(|l| PanicLocation::new(l.file(), l.line(), l.column())),
        backtrace: capture_backtrace(),
    };
    #[cfg(panic = "abort")]
    {
        // Nothing unwinds: the guard will never catch this, so report and flush from here.
        // SAFETY: `innermost` was set by `enter_guard` from a `&Site` that outlives the guarded
        // call, on this thread, and is reset by `exit_guard` before that call returns; the hook
        // runs on the same thread, during the call.
        let site = unsafe { *innermost };
        let message = info
            .payload_as_str()
            .unwrap_or(crate::panic::panicked::NON_STRING_MESSAGE)
            .to_owned();
        crate::guard::recovered_in_hook(site, message, captured);
    }
    // A panic in the hook aborts the process: never borrow a slot that is in use.
    #[cfg(not(panic = "abort"))]
    {
        let _ = SLOT.try_with(|slot| {
            if let Ok(mut slot) = slot.try_borrow_mut() {
                *slot = Some(captured);
            }
        });
        true
    }
}

/// The guard that was innermost before [`enter_guard`]; give it back to [`exit_guard`].
#[must_use]
pub(crate) struct Previous(*const Site);

/// Marks `site` as the innermost guard on this thread until [`exit_guard`].
#[inline]
pub(crate) fn enter_guard(site: &Site) -> Previous {
    install_panic_hook();
    Previous(INNERMOST.with(|s| s.replace(site)))
}

/// Restores the guard that was innermost before the matching [`enter_guard`].
#[inline]
pub(crate) fn exit_guard(previous: Previous) {
    INNERMOST.with(|s| s.set(previous.0));
}

/// Takes what the hook captured for the panic the current guard just caught.
pub(crate) fn take_captured() -> Option<Captured> {
    SLOT.try_with(|slot| slot.try_borrow_mut().ok().and_then(|mut s| s.take()))
        .ok()
        .flatten()
}

/// Runs mruntime's own reporting with the hook silenced, so that a panic in a subscriber or a
/// reporter is caught and described once by mruntime.
pub(crate) struct Silenced;

impl Silenced {
    pub(crate) fn run<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
        let was = SILENCED.with(|s| s.replace(true));
        let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
        SILENCED.with(|s| s.set(was));
        result
    }
}
