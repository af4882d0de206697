//! mruntime's panic hook: it records what a guard needs (in `panic::capture`) for a panic
//! raised inside a guard and stays silent; outside every guard it hands the panic to the
//! previous hook untouched. Built with `panic = "abort"`, nothing unwinds, so it reports the
//! panic itself and the process ends.

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use crate::panic::capture::{self, Seen};

static INSTALL: Once = Once::new();

/// Installs mruntime's panic hook, chaining the hook that is installed now.
///
/// Every guard calls this on first use, so calling it yourself is only needed when you install a
/// hook of your own (a crash reporter's, say) after mruntime's first guard ran: install yours
/// first, then call this, and both work. Calling it more than once does nothing.
///
/// Inside a guard the hook records the panic's location, backtrace and message for mruntime to
/// report and prints nothing: the guard that catches the panic reports it once, and if other
/// code catches it first (your own `catch_unwind`, tokio's task harness under a `LocalSet` or
/// `block_on`), mruntime reports it once as caught elsewhere when the guard exits. Outside
/// every guard it calls the previous hook unchanged.
///
/// ```
/// std::panic::set_hook(Box::new(|info| eprintln!("my crash reporter: {info}")));
/// mruntime::install_panic_hook(); // chains the hook above for panics outside guards
/// ```
#[inline]
pub fn install_panic_hook() {
    // Every guard's entry runs this: once installed, it is one acquire load, inlined.
    if !INSTALL.is_completed() {
        install_now();
    }
}

/// [`install_panic_hook`] for a guard's entry: a thread-local flag read (beside the one the entry
/// writes) instead of the process-wide `Once`'s state.
#[inline]
pub(crate) fn ensure_panic_hook() {
    if !capture::hooked_here() {
        install_here();
    }
}

/// Installs the hook if no thread has, and remembers on this thread that it is.
#[cold]
#[inline(never)]
extern "C" fn install_here() {
    install_now();
    if INSTALL.is_completed() {
        capture::mark_hooked_here();
    }
}

// `extern "C"`: it cannot unwind (nothing in it panics: see below), so the guards it is
// inlined into need no unwind-table entry for the call, which every panic they catch would
// otherwise have the personality routine read past.
#[cold]
#[inline(never)]
extern "C" fn install_now() {
    // `set_hook` panics on a thread that is unwinding, which would abort the process: a guard
    // first entered during unwinding (a guarded future dropped inside its guard as a spawn
    // outside a runtime unwinds) leaves the install to the next guard.
    if std::thread::panicking() {
        return;
    }
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !hook(info) {
                previous(info);
            }
        }));
    });
}

/// Returns whether mruntime took the panic (so the previous hook must not see it). A panic in
/// here would abort the process: nothing below panics.
fn hook(info: &PanicHookInfo<'_>) -> bool {
    match capture::see(info, crate::telemetry::sample_panic) {
        Seen::Silenced => true,
        Seen::OutsideGuards => false,
        Seen::InGuard(capture) => {
            #[cfg(panic = "abort")]
            {
                // Nothing unwinds: no guard will catch this, so report and end here.
                let (site, message, captured) = capture.into_parts();
                let message = message.map_or_else(
                    || crate::panic::panicked::NON_STRING_MESSAGE.to_owned(),
                    std::borrow::Cow::into_owned,
                );
                crate::guard::recovered_in_hook(site, message, captured)
            }
            #[cfg(not(panic = "abort"))]
            {
                capture::keep(capture);
                true
            }
        }
    }
}
