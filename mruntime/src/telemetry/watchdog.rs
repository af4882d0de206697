//! The crash watchdog: a thread of its own that aborts the process when an armed deadline
//! passes, so that a `CrashProcess` ends in bounded time whatever hangs on the crashing thread
//! (a reporter, a subscriber, an exporter).
//!
//! One thread serves every deadline; it is started the first time a deadline is armed and then
//! sleeps until the earliest armed deadline. It never writes to stderr before aborting: the
//! thread that hangs may hold the stderr lock, or stderr may be a full pipe.

use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

/// The deadlines armed now.
struct Armed {
    next_id: u64,
    deadlines: Vec<(u64, Instant)>,
}

static ARMED: Mutex<Armed> = Mutex::new(Armed {
    next_id: 0,
    deadlines: Vec::new(),
});
static CHANGED: Condvar = Condvar::new();
/// Whether the watchdog thread runs (`Err` with why not, once starting it failed).
static STARTED: OnceLock<Result<(), String>> = OnceLock::new();

fn armed() -> MutexGuard<'static, Armed> {
    ARMED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An armed deadline: the process aborts when it passes, unless this is disarmed (dropped) first.
#[must_use = "dropping the deadline disarms it"]
pub(crate) struct Deadline {
    id: u64,
}

/// Arms `deadline`, starting the watchdog thread if it is not running yet. `Err` says why the
/// thread could not be started (then nothing is armed and nothing bounds the caller).
pub(crate) fn arm(deadline: Instant) -> Result<Deadline, String> {
    STARTED
        .get_or_init(|| {
            crate::spawn::thread("mruntime-crash-watchdog", watch).map_err(|e| e.to_string())
        })
        .clone()?;
    let mut armed = armed();
    let id = armed.next_id;
    armed.next_id += 1;
    armed.deadlines.push((id, deadline));
    drop(armed);
    CHANGED.notify_all();
    Ok(Deadline { id })
}

impl Drop for Deadline {
    fn drop(&mut self) {
        armed().deadlines.retain(|&(id, _)| id != self.id);
    }
}

/// The watchdog thread: sleeps until the earliest armed deadline, aborts once it has passed.
fn watch() {
    let mut armed = armed();
    loop {
        let earliest = armed.deadlines.iter().map(|&(_, at)| at).min();
        armed = match earliest {
            None => CHANGED.wait(armed).unwrap_or_else(PoisonError::into_inner),
            Some(at) => {
                let now = Instant::now();
                if now >= at {
                    std::process::abort();
                }
                CHANGED
                    .wait_timeout(armed, at - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}
