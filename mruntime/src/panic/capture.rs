//! What the panic hook captures for guards, kept per thread.
//!
//! By the time `catch_unwind` returns, the stack is unwound and only the payload is left. So the
//! hook, which runs before unwinding, records a [`Capture`] (location, backtrace, a bounded copy
//! of the message) for the innermost active guard on this thread. The guard that catches the
//! panic takes the newest capture of its own that matches its payload; never an older one, never
//! another guard's. A capture its guard does not take (the panic was caught by other code: a
//! `catch_unwind` of the user's, tokio's task harness under a `LocalSet` or `block_on`) is
//! handed back when that guard exits, to be reported once as caught elsewhere. So no capture
//! outlives its guard.

use std::any::{Any, TypeId};
use std::backtrace::{Backtrace, BacktraceStatus};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, Location, PanicHookInfo};
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::panic::PanicLocation;
use crate::panic::span_trace::SpanCapture;
use crate::site::Site;

/// What a guard learns from the hook about the panic it caught.
pub(crate) struct Captured {
    pub(crate) location: Option<PanicLocation>,
    /// In an `Arc` already, as `Panicked` keeps it: a capture stays small to move.
    pub(crate) backtrace: Option<Arc<Backtrace>>,
    /// What sampling decided in the hook (before the backtrace was taken).
    pub(crate) verdict: Verdict,
    /// The span current at the panic point, rendered when the panic is reported.
    pub(crate) span_trace: SpanCapture,
}

/// Whether a panic gets its full report, decided in the hook by panic sampling (see
/// `telemetry::sampling`), so that a suppressed panic never has its backtrace taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The full report; `suppressed_before` panics of its site were suppressed since the
    /// site's last full report.
    Report { suppressed_before: u64 },
    /// Suppressed: counted and its span marked, nothing else. `status` is the span's status
    /// text, interned per tracked site (`None`: format it).
    Suppress { status: Option<&'static str> },
}

impl Verdict {
    /// The verdict when sampling is off.
    pub(crate) const REPORT: Verdict = Verdict::Report {
        suppressed_before: 0,
    };
}

/// How many captures a thread keeps waiting for their guards to exit; beyond that the oldest
/// is dropped and counted (see [`Settled::lost`]).
pub(crate) const CAPTURE_QUEUE_LIMIT: usize = 64;

/// The most bytes of a message a capture copies (to match a payload, and to report a panic
/// caught elsewhere, whose payload mruntime never sees).
const MESSAGE_COPY_LIMIT: usize = 4096;

/// One panic as the hook saw it, raised while `frame` was the innermost guard.
pub(crate) struct Capture {
    frame: *const Frame,
    site: Site,
    captured: Captured,
    fingerprint: Fingerprint,
}

impl Capture {
    pub(crate) fn into_parts(self) -> (Site, Option<Cow<'static, str>>, Captured) {
        let message = match self.fingerprint {
            Fingerprint::Str(s) => Some(Cow::Borrowed(s)),
            Fingerprint::String { text, .. } => Some(Cow::Owned(text)),
            Fingerprint::Other(_) | Fingerprint::Buffer { .. } => None,
        };
        (self.site, message, self.captured)
    }

    pub(crate) fn site(&self) -> &Site {
        &self.site
    }

    pub(crate) fn verdict(&self) -> Verdict {
        self.captured.verdict
    }
}

/// Enough of a payload to tell it from another: its type, and for a string its length and (a
/// bounded copy of) its text. An enum, so that a capture stays small enough to move without a
/// `memcpy` call.
enum Fingerprint {
    /// A `&'static str` payload: its text.
    Str(&'static str),
    /// A `String` payload: its length and its first [`MESSAGE_COPY_LIMIT`] bytes.
    String { len: usize, text: String },
    /// Any other payload: its type.
    Other(TypeId),
    /// A `String` payload of a suppressed panic: the address and length of its text, which
    /// the payload keeps while it unwinds (nothing copied).
    Buffer { address: usize, len: usize },
}

impl Fingerprint {
    fn of_hook(payload: &(dyn Any + Send), copy: bool) -> Self {
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            return Fingerprint::Str(s);
        }
        match payload.downcast_ref::<String>() {
            Some(s) if copy => Fingerprint::String {
                len: s.len(),
                text: crate::text::prefix(s, MESSAGE_COPY_LIMIT).to_owned(),
            },
            Some(s) => Fingerprint::Buffer {
                address: s.as_ptr() as usize,
                len: s.len(),
            },
            None => Fingerprint::Other(payload.type_id()),
        }
    }

    fn matches(&self, payload: &(dyn Any + Send)) -> bool {
        match self {
            // Mostly the payload's own text: no compare needed then.
            Fingerprint::Str(text) => payload
                .downcast_ref::<&'static str>()
                .is_some_and(|m| std::ptr::eq(*m, *text) || m == text),
            Fingerprint::String { len, text } => payload
                .downcast_ref::<String>()
                .is_some_and(|m| m.len() == *len && m.starts_with(text.as_str())),
            Fingerprint::Other(type_id) => payload.type_id() == *type_id,
            Fingerprint::Buffer { address, len } => payload
                .downcast_ref::<String>()
                .is_some_and(|m| m.as_ptr() as usize == *address && m.len() == *len),
        }
    }
}

/// One activation of a guard: its address identifies it while it is on the stack.
pub(crate) struct Frame {
    site: *const Site,
}

/// The hot state a guard touches on every call: one thread-local, no destructor.
struct Hot {
    /// The innermost active guard on this thread, null outside every guard.
    innermost: Cell<*const Frame>,
    /// Captures (and lost captures) waiting in [`QUEUE`]: a guard's exit looks at nothing else.
    pending: Cell<usize>,
    /// mruntime's panic hook is known to be installed (read by every guard's entry, beside
    /// `innermost`, instead of the process-wide `Once`).
    hooked: Cell<bool>,
}

thread_local! {
    static HOT: Hot = const {
        Hot { innermost: Cell::new(ptr::null()), pending: Cell::new(0), hooked: Cell::new(false) }
    };
    static QUEUE: RefCell<VecDeque<Capture>> = const { RefCell::new(VecDeque::new()) };
    /// Captures dropped because the queue was full, not yet told.
    static LOST: Cell<usize> = const { Cell::new(0) };
    /// Set while mruntime itself reports: a fault in a subscriber or reporter is contained and
    /// described by mruntime once, not printed again by the hook.
    static SILENCED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread has seen mruntime's panic hook installed.
#[inline]
pub(crate) fn hooked_here() -> bool {
    HOT.with(|h| h.hooked.get())
}

/// Records that mruntime's panic hook is installed (it is never uninstalled).
pub(crate) fn mark_hooked_here() {
    let _ = HOT.try_with(|h| h.hooked.set(true));
}

impl Frame {
    #[inline]
    pub(crate) fn new(site: &Site) -> Self {
        Frame { site }
    }

    /// Makes this frame the innermost guard on this thread until [`Entered::exit`].
    #[inline]
    pub(crate) fn enter(&self) -> Entered<'_> {
        let previous = HOT.with(|h| h.innermost.replace(self));
        Entered {
            previous,
            frame: self,
        }
    }
}

/// An active guard; give it back with [`exit`](Self::exit).
#[must_use]
pub(crate) struct Entered<'a> {
    previous: *const Frame,
    frame: &'a Frame,
}

impl Entered<'_> {
    /// Restores the guard that was innermost before. Returns whether captures are waiting
    /// (then call [`take_settled`] for this frame): the one extra read of a normal return.
    #[inline]
    pub(crate) fn exit(self) -> bool {
        let pending = HOT.with(|h| {
            h.innermost.set(self.previous);
            h.pending.get() != 0
        });
        std::mem::forget(self);
        pending
    }
}

/// Restores the previous guard if the guard's own recovery unwinds past [`Entered::exit`], so
/// the hook never sees a frame that left the stack, and drops the frame's captures, so none is
/// ever matched to a later frame at the same address.
impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let _ = HOT.try_with(|h| h.innermost.set(self.previous));
        drop(settled_of(self.frame));
    }
}

/// What the hook makes of a panic.
pub(crate) enum Seen {
    /// Raised by mruntime's own reporting (a sink's fault): contained and described there.
    Silenced,
    /// Outside every guard: the previous hook's business.
    OutsideGuards,
    /// Inside a guard: what the guard (or, if someone else catches it, mruntime) reports.
    InGuard(Capture),
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

fn capture_backtrace() -> Option<Arc<Backtrace>> {
    let backtrace = match BACKTRACE_CAPTURE.load(Ordering::Relaxed) {
        0 => Backtrace::capture(),
        1 => Backtrace::force_capture(),
        _ => return None,
    };
    (backtrace.status() == BacktraceStatus::Captured).then(|| Arc::new(backtrace))
}

/// For the hook: what this panic is to mruntime. `sample` decides, before anything is
/// captured, whether a panic inside a guard gets its full report; a suppressed one gets no
/// backtrace and no copy of its message. Never panics (a panic in the hook aborts).
pub(crate) fn see(
    info: &PanicHookInfo<'_>,
    sample: impl FnOnce(&Site, &Location<'_>, &(dyn Any + Send)) -> Verdict,
) -> Seen {
    let innermost = HOT.try_with(|h| h.innermost.get()).unwrap_or(ptr::null());
    if innermost.is_null() {
        return if SILENCED.try_with(Cell::get).unwrap_or(false) {
            Seen::Silenced
        } else {
            Seen::OutsideGuards
        };
    }
    // SAFETY: `innermost` was set by `Frame::enter` from a frame on this thread's stack that
    // stays there until the matching `Entered::exit`, which resets it; the hook runs on this
    // thread, inside that call. The frame's site outlives the frame.
    let site = unsafe { *(*innermost).site };
    let verdict = match info.location() {
        Some(location) => sample(&site, location, info.payload()),
        None => Verdict::REPORT,
    };
    let report = matches!(verdict, Verdict::Report { .. });
    Seen::InGuard(Capture {
        frame: innermost,
        site,
        captured: Captured {
            // Formatted once per location and thread (a cache), so kept for a suppressed one.
            location: info
                .location()
                .map(|l| PanicLocation::new(l.file(), l.line(), l.column())),
            backtrace: if report { capture_backtrace() } else { None },
            verdict,
            // A suppressed panic sends nothing: no span trace either.
            span_trace: if report {
                SpanCapture::now()
            } else {
                SpanCapture::none()
            },
        },
        fingerprint: Fingerprint::of_hook(info.payload(), report),
    })
}

/// For the hook: keeps `capture` until its guard takes it or exits. Never panics.
#[cfg_attr(panic = "abort", allow(dead_code))] // under abort the hook reports at once
pub(crate) fn keep(capture: Capture) {
    let _ = QUEUE.try_with(|queue| {
        let Ok(mut queue) = queue.try_borrow_mut() else {
            return;
        };
        if queue.len() >= CAPTURE_QUEUE_LIMIT {
            // Its span handle is dropped here: a span that closed meanwhile closes now, in the
            // hook, as it would at any drop.
            queue.pop_front();
            let _ = LOST.try_with(|l| l.set(l.get() + 1));
        }
        queue.push_back(capture);
        // `pending` is the queue's length plus the lost count.
        let _ = HOT.try_with(|h| h.pending.set(h.pending.get() + 1));
    });
}

/// For the guard that caught `payload` while it is still the innermost guard: the newest of its
/// captures that matches the payload. `None` when the panic did not go through the hook
/// (`resume_unwind` of a payload not raised under this guard, a replaced hook).
pub(crate) fn take_captured(payload: &(dyn Any + Send)) -> Option<Captured> {
    let frame = HOT.try_with(|h| h.innermost.get()).ok()?;
    let capture = QUEUE
        .try_with(|queue| {
            let mut queue = queue.try_borrow_mut().ok()?;
            let mine = |c: &Capture| c.frame == frame && c.fingerprint.matches(payload);
            // Mostly the newest capture: taken from the back, nothing to search or shift.
            if queue.back().is_some_and(mine) {
                return queue.pop_back();
            }
            let at = queue.iter().rposition(mine)?;
            queue.remove(at)
        })
        .ok()
        .flatten()?;
    let _ = HOT.try_with(|h| h.pending.set(h.pending.get().saturating_sub(1)));
    Some(capture.captured)
}

/// Captures a guard did not take, handed back when it exits: panics raised under it that other
/// code caught.
pub(crate) struct Settled {
    /// The captures, oldest first.
    pub(crate) captures: Vec<Capture>,
    /// Captures this thread dropped since it last told, the queue being full.
    pub(crate) lost: usize,
}

/// Takes the captures left by `frame` (the guard is exiting, so whoever caught those panics
/// has), and the count of captures lost on this thread.
///
/// `extern "C"`, as `guard::report_settled` which takes what this returns: nothing here panics,
/// so the guards calling it need no unwind-table entry for the call. Rust calls only.
#[inline(never)]
#[allow(improper_ctypes_definitions)]
pub(crate) extern "C" fn take_settled(frame: &Frame) -> Settled {
    settled_of(frame)
}

/// [`take_settled`] for the innermost guard, which has just caught a panic.
pub(crate) fn take_settled_of_innermost() -> Settled {
    let frame = HOT.try_with(|h| h.innermost.get()).unwrap_or(ptr::null());
    settled_of(frame)
}

fn settled_of(frame: *const Frame) -> Settled {
    if HOT.try_with(|h| h.pending.get()).unwrap_or(0) == 0 {
        return Settled {
            captures: Vec::new(),
            lost: 0,
        };
    }
    let captures: Vec<Capture> = QUEUE
        .try_with(|queue| {
            let Ok(mut queue) = queue.try_borrow_mut() else {
                return Vec::new();
            };
            let (mine, others): (VecDeque<Capture>, VecDeque<Capture>) =
                queue.drain(..).partition(|c| c.frame == frame);
            *queue = others;
            mine.into()
        })
        .unwrap_or_default();
    let lost = LOST.try_with(|l| l.replace(0)).unwrap_or(0);
    let _ = HOT.try_with(|h| {
        h.pending
            .set(h.pending.get().saturating_sub(captures.len() + lost))
    });
    Settled { captures, lost }
}

/// Runs mruntime's own reporting outside every guard with the hook silenced, so that a panic in
/// a subscriber or a reporter is caught and described once by mruntime, while a guard used
/// inside a sink is a guard of its own.
pub(crate) struct Silenced;

impl Silenced {
    pub(crate) fn run<R>(f: impl FnOnce() -> R) -> Result<R, Fault> {
        run_silenced(f).map_err(Fault)
    }
}

fn run_silenced<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let innermost = HOT.with(|h| h.innermost.replace(ptr::null()));
    let was = SILENCED.with(|s| s.replace(true));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    SILENCED.with(|s| s.set(was));
    HOT.with(|h| h.innermost.set(innermost));
    result
}

/// The payload of a panic mruntime contained; dropping it never panics (see
/// [`drop_payload`]).
pub(crate) struct Fault(Box<dyn Any + Send>);

impl Fault {
    /// The fault's message, when its payload is a string.
    pub(crate) fn message(&self) -> Option<&str> {
        self.0
            .downcast_ref::<&'static str>()
            .copied()
            .or_else(|| self.0.downcast_ref::<String>().map(String::as_str))
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        drop_payload(std::mem::replace(&mut self.0, Box::new(())));
    }
}

/// Drops a panic payload so that nothing escapes: a payload whose own `Drop` panics is leaked
/// (and so is that panic's payload), with one line on stderr.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(fault) = run_silenced(move || drop(payload)) {
        // The fault's own payload might panic on drop too: never drop it.
        std::mem::forget(fault);
        crate::stderr::write_line(format_args!(
            "mruntime: dropping a panic payload panicked; the payload was leaked"
        ));
    }
}
