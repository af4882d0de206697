//! [`Panicked`]: a recovered panic with everything known about it.

use std::any::Any;
use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::sync::Arc;

use crate::panic::capture::{Capture, drop_payload};
use crate::panic::{Captured, Verdict};
use crate::policy::PanicPolicy;
use crate::site::Site;

/// Where a panic happened: file, line and column of the `panic!` (or failed `unwrap`, ...).
///
/// Displays as `file:line:column`.
#[derive(Clone)]
pub struct PanicLocation {
    /// `file:line:column`, formatted once per location (per thread, see [`LOCATIONS`]) and
    /// shared by the panics raised there: no allocation, no formatting per panic.
    text: Arc<str>,
    /// `text[..file_len]` is the file.
    file_len: usize,
    line: u32,
    column: u32,
}

/// How many locations each thread keeps formatted.
const LOCATION_CACHE_LIMIT: usize = 8;

thread_local! {
    /// The locations of this thread's latest panics, oldest first.
    static LOCATIONS: RefCell<Vec<PanicLocation>> = const { RefCell::new(Vec::new()) };
}

impl PanicLocation {
    /// The location `file:line:column`, from this thread's cache when a panic was raised there
    /// lately (the hook runs this: nothing here panics).
    pub(crate) fn new(file: &str, line: u32, column: u32) -> Self {
        let cached = LOCATIONS.try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let hit = cache
                .iter()
                .rev()
                .find(|l| l.line == line && l.column == column && l.file() == file);
            if let Some(hit) = hit {
                return Some(hit.clone());
            }
            let location = PanicLocation::format(file, line, column);
            if cache.len() >= LOCATION_CACHE_LIMIT {
                cache.remove(0);
            }
            cache.push(location.clone());
            Some(location)
        });
        match cached {
            Ok(Some(location)) => location,
            _ => PanicLocation::format(file, line, column),
        }
    }

    fn format(file: &str, line: u32, column: u32) -> Self {
        let mut text = String::with_capacity(file.len() + 12);
        text.push_str(file);
        let _ = write!(text, ":{line}:{column}");
        PanicLocation {
            text: text.into(),
            file_len: file.len(),
            line,
            column,
        }
    }

    /// The source file, as the compiler saw it (`src/sync.rs`).
    pub fn file(&self) -> &str {
        self.text.get(..self.file_len).unwrap_or_default()
    }

    /// The line, starting at 1.
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The column, starting at 1.
    pub fn column(&self) -> u32 {
        self.column
    }
}

impl fmt::Display for PanicLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for PanicLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PanicLocation")
            .field("file", &self.file())
            .field("line", &self.line)
            .field("column", &self.column)
            .finish()
    }
}

impl PartialEq for PanicLocation {
    fn eq(&self, other: &Self) -> bool {
        self.line == other.line && self.column == other.column && self.file() == other.file()
    }
}

impl Eq for PanicLocation {}

impl Hash for PanicLocation {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.file().hash(state);
        self.line.hash(state);
        self.column.hash(state);
    }
}

/// What [`Panicked::payload`] returns for a payload that is not a string.
///
/// [`Panicked`] is `Sync` (so it fits in `anyhow::Error`, `Box<dyn Error + Send + Sync>`, ...),
/// but a payload given to [`std::panic::panic_any`] need only be `Send`. Sharing a `&` to it
/// between threads would be unsound, so shared access yields this marker; the payload itself is
/// reached with [`Panicked::payload_mut`] or [`Panicked::into_payload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpaquePayload;

/// The text used as [`Panicked::message`] when the payload is not a string.
pub(crate) const NON_STRING_MESSAGE: &str = "Box<dyn Any> (panic payload is not a string)";

enum Payload {
    Str(&'static str),
    String(String),
    Other(Exclusive),
}

/// A payload only reachable through `&mut` or by value, hence `Sync` whatever it holds.
/// Dropping it never panics: a payload whose own `Drop` panics is leaked instead.
struct Exclusive(ManuallyDrop<Box<dyn Any + Send>>);

impl Exclusive {
    fn new(payload: Box<dyn Any + Send>) -> Self {
        Exclusive(ManuallyDrop::new(payload))
    }

    fn get_mut(&mut self) -> &mut (dyn Any + Send) {
        &mut **self.0
    }

    fn into_inner(self) -> Box<dyn Any + Send> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the payload is taken out exactly once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        // SAFETY: drop runs once and nothing reads the payload after it.
        drop_payload(unsafe { ManuallyDrop::take(&mut self.0) });
    }
}

// SAFETY: `Exclusive` never hands out a shared reference to its content: it is read only
// through `&mut self` (`Panicked::payload_mut`) or by value (`Panicked::into_payload`), so no
// two threads can ever access the content at once (the same argument as tokio's `SyncWrapper`).
unsafe impl Sync for Exclusive {}

impl Payload {
    fn new(payload: Box<dyn Any + Send>) -> Self {
        let payload = match payload.downcast::<&'static str>() {
            Ok(s) => return Payload::Str(*s),
            Err(payload) => payload,
        };
        match payload.downcast::<String>() {
            Ok(s) => Payload::String(*s),
            Err(payload) => Payload::Other(Exclusive::new(payload)),
        }
    }
}

/// A recovered panic: where it happened (component, name, source location), what it said
/// (message and payload), how it unwound (backtrace) and which policy applied.
///
/// It is what a guarded call returns instead of its value (`Err(E::from(panicked))` from a
/// `#[recover]` function returning `Result`, [`TaskError::Panicked`](crate::TaskError) from a
/// task). By the time you hold it, it has already been logged, counted, traced and reported,
/// exactly once.
///
/// ```
/// use mruntime::PanicPolicy;
///
/// let line = line!() + 2;
/// let err = mruntime::guard("transaction", "balance-sync", PanicPolicy::KeepRunning, || {
///     panic!("balance must not be negative");
/// })
/// .unwrap_err();
/// assert_eq!(err.component(), "transaction");
/// assert_eq!(err.name(), "balance-sync");
/// assert_eq!(err.message(), "balance must not be negative");
/// assert_eq!(err.location().unwrap().line(), line);
/// assert!(err.to_string().starts_with("panic in transaction/balance-sync at "));
/// ```
pub struct Panicked {
    inner: Box<Inner>,
}

struct Inner {
    site: Site,
    payload: Payload,
    location: Option<PanicLocation>,
    backtrace: Option<Arc<Backtrace>>,
    span_trace: Option<Arc<str>>,
    attempt: u32,
    caught_elsewhere: bool,
    suppressed_before: u64,
}

impl Panicked {
    pub(crate) fn new(
        site: Site,
        payload: Box<dyn Any + Send>,
        captured: Option<Captured>,
    ) -> Self {
        let (location, backtrace, suppressed_before, span_trace) = match captured {
            Some(c) => {
                let suppressed = match c.verdict {
                    Verdict::Report { suppressed_before } => suppressed_before,
                    Verdict::Suppress { .. } => 0,
                };
                (c.location, c.backtrace, suppressed, c.span_trace.render())
            }
            None => (None, None, 0, None),
        };
        Panicked {
            inner: Box::new(Inner {
                site,
                payload: Payload::new(payload),
                location,
                backtrace,
                span_trace,
                attempt: 1,
                caught_elsewhere: false,
                suppressed_before,
            }),
        }
    }

    #[allow(dead_code)] // set by supervision (restart attempts)
    pub(crate) fn with_attempt(mut self, attempt: u32) -> Self {
        self.inner.attempt = attempt;
        self
    }

    /// The component of the guard that recovered the panic.
    pub fn component(&self) -> &str {
        self.inner.site.component()
    }

    /// The task or handler name of the guard that recovered the panic.
    pub fn name(&self) -> &str {
        self.inner.site.name()
    }

    /// The policy of the guard that recovered the panic. A `Panicked` you can hold was
    /// recovered under [`PanicPolicy::KeepRunning`] unless it was handed to a crash handler.
    pub fn policy(&self) -> PanicPolicy {
        self.inner.site.policy()
    }

    /// Which run of a supervised task panicked: 1 for the first run, 2 for the first restart, ...
    /// Always 1 outside supervised tasks.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// The panic message: the payload verbatim when it is a `&str` or a `String` (as from every
    /// `panic!`, `unwrap`, `expect`), otherwise a placeholder saying the payload is not a string.
    pub fn message(&self) -> &str {
        match &self.inner.payload {
            Payload::Str(s) => s,
            Payload::String(s) => s,
            Payload::Other(_) => NON_STRING_MESSAGE,
        }
    }

    /// The type of the payload when it is known (`&str`, `alloc::string::String`), `None` for a
    /// payload of another type given to [`std::panic::panic_any`].
    pub fn payload_type(&self) -> Option<&'static str> {
        match &self.inner.payload {
            Payload::Str(_) => Some("&str"),
            Payload::String(_) => Some(std::any::type_name::<String>()),
            Payload::Other(_) => None,
        }
    }

    /// Where the panic happened, when the panic went through mruntime's hook. It is `None` when
    /// the hook was replaced after mruntime installed it, and for a payload re-raised with
    /// [`std::panic::resume_unwind`] (which calls no hook) unless the panic that first carried
    /// it was raised under the same guard call and caught inside it: then it is that panic's
    /// location. Never the location of another panic.
    pub fn location(&self) -> Option<&PanicLocation> {
        self.inner.location.as_ref()
    }

    /// The backtrace of the panic, captured per `RUST_BACKTRACE` / `RUST_LIB_BACKTRACE` unless
    /// set otherwise with [`set_backtrace_capture`](crate::set_backtrace_capture). It is
    /// resolved to symbols only when displayed.
    pub fn backtrace(&self) -> Option<&Backtrace> {
        self.inner.backtrace.as_deref()
    }

    /// The chain of spans that was current where the panic was raised, innermost first: one
    /// line per span, `target: name{fields}` (`name` alone for a span without fields), at most
    /// 32 spans (then a last line `... N more spans`) and 4096 bytes (then cut, ending in
    /// `...[truncated]`). Control characters are escaped and a fmt layer's colours left out.
    ///
    /// What it holds depends on the subscriber current on the panicking thread:
    /// - with [`ErrorLayer`](crate::ErrorLayer) (tracing-error 0.2) in it: every span's target,
    ///   name and fields as the layer formatted them;
    /// - with a tracing-subscriber `Registry` and no `ErrorLayer`: every span's target and name,
    ///   and its fields when a fmt layer with the default field formatter recorded them;
    /// - with another subscriber, no subscriber, or no span current at the panic point: `None`.
    ///
    /// It is `None` as well when the panic did not go through mruntime's hook (see
    /// [`location`](Self::location)). This is your copy, unredacted (as
    /// [`message`](Self::message)); what leaves the process (the `panic.span_trace` field of the
    /// event, the span event, the reporter's copy) has its secrets redacted, and is left out in
    /// production mode.
    ///
    /// ```
    /// use mruntime::PanicPolicy;
    /// use tracing_subscriber::layer::SubscriberExt;
    ///
    /// let subscriber = tracing_subscriber::registry().with(mruntime::ErrorLayer::default());
    /// let p = tracing::subscriber::with_default(subscriber, || {
    ///     let _request = tracing::info_span!("handler.transfer", request_id = 7).entered();
    ///     mruntime::guard("ledger", "debit", PanicPolicy::KeepRunning, || {
    ///         let _db = tracing::info_span!(target: "app::db", "db.debit", account = 42).entered();
    ///         panic!("insufficient funds")
    ///     })
    ///     .unwrap_err()
    /// });
    /// let trace: Vec<&str> = p.span_trace().unwrap().lines().collect();
    /// assert_eq!(trace[0], "app::db: db.debit{account=42}");
    /// assert!(trace[1].starts_with("mruntime: mruntime.guard{component=\"ledger\""));
    /// assert!(trace[2].ends_with(": handler.transfer{request_id=7}"));
    /// ```
    pub fn span_trace(&self) -> Option<&str> {
        self.inner.span_trace.as_deref()
    }

    /// Whether other code caught this panic before any guard of mruntime's could: it was raised
    /// inside the guard named by [`component`](Self::component) and [`name`](Self::name), and
    /// caught there by a `catch_unwind` of yours, by tokio's task harness (the guarded code
    /// drove a `LocalSet` or a current-thread runtime's `block_on` whose task panicked), or by
    /// any other executor. mruntime reports such a panic once, when that guard exits, and the
    /// guard's policy does not apply: the code that caught it decided what follows. No call
    /// returns such a `Panicked`: an [`ErrorReporter`](crate::ErrorReporter) receives it (and
    /// the tracing event carries `panic.caught_elsewhere = true`). Its payload is the message
    /// as the hook saw it (at most 4096 bytes), or an [`OpaquePayload`].
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use mruntime::{ErrorReporter, Panicked, PanicPolicy};
    ///
    /// #[derive(Clone, Default)]
    /// struct Seen(Arc<Mutex<Vec<(String, bool)>>>);
    /// impl ErrorReporter for Seen {
    ///     fn report(&self, p: &Panicked) {
    ///         self.0.lock().unwrap().push((p.message().to_owned(), p.caught_elsewhere()));
    ///     }
    /// }
    ///
    /// let seen = Seen::default();
    /// mruntime::set_error_reporter(seen.clone());
    /// let value = mruntime::guard("jobs", "import", PanicPolicy::KeepRunning, || {
    ///     let caught = std::panic::catch_unwind(|| panic!("bad row"));
    ///     caught.is_err() // the guard's call goes on: its own code caught the panic
    /// });
    /// mruntime::clear_error_reporter();
    /// assert_eq!(value.unwrap(), true);
    /// assert_eq!(*seen.0.lock().unwrap(), [("bad row".to_owned(), true)]);
    /// ```
    pub fn caught_elsewhere(&self) -> bool {
        self.inner.caught_elsewhere
    }

    /// How many panics of the same site (location, component and name) panic sampling
    /// suppressed since the site's last full report: 0 unless
    /// [`set_panic_sampling`](crate::set_panic_sampling) is on. An
    /// [`ErrorReporter`](crate::ErrorReporter) can send it along (the Sentry reporter does, as
    /// extra data `suppressed_before`); the tracing event carries it as
    /// `panic.suppressed_before` when it is not 0.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mruntime::{PanicPolicy, PanicSampling};
    ///
    /// mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_millis(50)));
    /// let panic_here = || {
    ///     mruntime::guard("ingest", "parse", PanicPolicy::KeepRunning, || panic!("bad row"))
    ///         .unwrap_err()
    /// };
    /// assert_eq!(panic_here().suppressed_before(), 0); // reported in full
    /// panic_here(); // suppressed
    /// panic_here(); // suppressed
    /// std::thread::sleep(Duration::from_millis(60)); // the window ends
    /// assert_eq!(panic_here().suppressed_before(), 2);
    /// # mruntime::set_panic_sampling(PanicSampling::off());
    /// ```
    pub fn suppressed_before(&self) -> u64 {
        self.inner.suppressed_before
    }

    /// The payload, for string payloads (the payload of every `panic!`): downcast it to
    /// `&'static str` or `String`. For any other payload this is an [`OpaquePayload`] marker,
    /// since `Panicked` is `Sync` and the payload need not be: use
    /// [`payload_mut`](Self::payload_mut) or [`into_payload`](Self::into_payload) for it.
    ///
    /// ```
    /// # use mruntime::PanicPolicy;
    /// let p = mruntime::guard("c", "n", PanicPolicy::KeepRunning, || panic!("static text"))
    ///     .unwrap_err();
    /// assert_eq!(p.payload().downcast_ref::<&str>(), Some(&"static text"));
    /// ```
    pub fn payload(&self) -> &(dyn Any + Send) {
        static OPAQUE: OpaquePayload = OpaquePayload;
        match &self.inner.payload {
            Payload::Str(s) => s,
            Payload::String(s) => s,
            Payload::Other(_) => &OPAQUE,
        }
    }

    /// The payload, whatever its type.
    ///
    /// ```
    /// # use mruntime::PanicPolicy;
    /// struct Code(u32);
    /// let mut p = mruntime::guard("c", "n", PanicPolicy::KeepRunning, || {
    ///     std::panic::panic_any(Code(7))
    /// })
    /// .unwrap_err();
    /// assert_eq!(p.payload_mut().downcast_mut::<Code>().map(|c| c.0), Some(7));
    /// ```
    pub fn payload_mut(&mut self) -> &mut (dyn Any + Send) {
        match &mut self.inner.payload {
            Payload::Str(s) => s,
            Payload::String(s) => s,
            Payload::Other(p) => p.get_mut(),
        }
    }

    /// The payload as [`std::panic::catch_unwind`] would have returned it, for example to
    /// [`std::panic::resume_unwind`] it.
    pub fn into_payload(self) -> Box<dyn Any + Send> {
        match self.inner.payload {
            Payload::Str(s) => Box::new(s),
            Payload::String(s) => Box::new(s),
            Payload::Other(p) => p.into_inner(),
        }
    }

    /// The message when the payload is a `&'static str` (as from `panic!("literal")`).
    pub(crate) fn static_message(&self) -> Option<&'static str> {
        match self.inner.payload {
            Payload::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn site(&self) -> &Site {
        &self.inner.site
    }

    /// A copy for telemetry sinks whose payload is `value` (the redacted text) and which keeps
    /// the backtrace only when `keep_backtrace`.
    pub(crate) fn for_sinks(&self, value: String, keep_backtrace: bool) -> Panicked {
        Panicked {
            inner: Box::new(Inner {
                site: self.inner.site,
                payload: Payload::String(value),
                location: self.inner.location.clone(),
                backtrace: self.inner.backtrace.clone().filter(|_| keep_backtrace),
                span_trace: self.inner.span_trace.clone(),
                attempt: self.inner.attempt,
                caught_elsewhere: self.inner.caught_elsewhere,
                suppressed_before: self.inner.suppressed_before,
            }),
        }
    }

    /// This copy with `span_trace` instead of the panic's own (what sinks may see of it).
    pub(crate) fn with_span_trace(mut self, span_trace: Option<Arc<str>>) -> Panicked {
        self.inner.span_trace = span_trace;
        self
    }

    /// A panic raised under a guard and caught by other code, from what the hook captured.
    pub(crate) fn caught_elsewhere_from(capture: Capture) -> Panicked {
        let (site, message, captured) = capture.into_parts();
        let payload: Box<dyn Any + Send> = match message {
            Some(Cow::Borrowed(s)) => Box::new(s),
            Some(Cow::Owned(s)) => Box::new(s),
            None => Box::new(OpaquePayload),
        };
        let mut panicked = Panicked::new(site, payload, Some(captured));
        panicked.inner.caught_elsewhere = true;
        panicked
    }

    /// A panic seen only by the hook (built with `panic = "abort"`, where nothing unwinds).
    #[cfg_attr(not(panic = "abort"), allow(dead_code))]
    pub(crate) fn from_hook(site: Site, message: String, captured: Captured) -> Panicked {
        Panicked::new(site, Box::new(message), Some(captured))
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panic in {}/{}", self.component(), self.name())?;
        if let Some(location) = self.location() {
            write!(f, " at {location}")?;
        }
        write!(f, ": {}", self.message())
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("component", &self.component())
            .field("name", &self.name())
            .field("policy", &self.policy())
            .field("message", &self.message())
            .field("location", &self.location())
            .field("attempt", &self.attempt())
            .field("caught_elsewhere", &self.caught_elsewhere())
            .field("suppressed_before", &self.suppressed_before())
            .field("backtrace", &self.backtrace().map(|_| "captured"))
            .field("span_trace", &self.span_trace())
            .finish()
    }
}

impl std::error::Error for Panicked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_right_past_the_cache_and_back() {
        let files = ["src/a.rs", "src/b.rs", "src/a.rs:1"];
        // More distinct locations than a thread keeps, twice over, then again in reverse.
        let mut wanted = Vec::new();
        for line in 1..=(LOCATION_CACHE_LIMIT as u32 * 2) {
            for file in files {
                wanted.push((file, line, line + 4));
            }
        }
        let again = wanted.iter().rev().copied();
        for (file, line, column) in wanted.clone().into_iter().chain(again) {
            let location = PanicLocation::new(file, line, column);
            assert_eq!(
                (location.file(), location.line(), location.column()),
                (file, line, column)
            );
            assert_eq!(location.to_string(), format!("{file}:{line}:{column}"));
        }
    }

    #[test]
    fn a_cached_location_is_equal_hashed_and_debugged_as_a_new_one() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |l: &PanicLocation| {
            let mut h = DefaultHasher::new();
            l.hash(&mut h);
            h.finish()
        };
        let first = PanicLocation::new("src/lib.rs", 7, 9);
        let cached = PanicLocation::new("src/lib.rs", 7, 9);
        let fresh = PanicLocation::format("src/lib.rs", 7, 9);
        assert!(
            Arc::ptr_eq(&first.text, &cached.text),
            "shared, not rebuilt"
        );
        assert_eq!(first, fresh);
        assert_eq!(hash(&first), hash(&fresh));
        assert_ne!(first, PanicLocation::new("src/lib.rs", 7, 10));
        assert_ne!(first, PanicLocation::new("src/lib.r", 7, 9));
        assert_eq!(
            format!("{first:?}"),
            r#"PanicLocation { file: "src/lib.rs", line: 7, column: 9 }"#
        );
    }
}
