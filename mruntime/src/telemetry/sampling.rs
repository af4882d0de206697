//! Panic log sampling per site ([`set_panic_sampling`]): in a storm, the first panics of a site
//! in each window get the full report; the rest are counted and their span marked, nothing
//! else; one `panic.suppressed` summary per window says how many (see `summary`). Counts stay
//! exact whatever is suppressed.
//!
//! The panic hook decides (before any backtrace is taken) under the lock of the site's stripe:
//! one of [`STRIPES`] small lists, so threads panicking at different sites rarely meet, and
//! threads at one site hold the lock for a few compares. At most [`MAX_SITES`] sites are
//! tracked; panics of further sites share one overflow bucket. A site, once tracked, stays
//! tracked (its status text is interned once), so memory stays bounded.

use std::any::Any;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tracing::Dispatch;

use crate::panic::Verdict;
use crate::policy::PanicPolicy;
use crate::site::Site;
use crate::telemetry::summary::{LastMessage, Summary};

/// How many sites are tracked; panics of any further site share one bucket.
pub(crate) const MAX_SITES: usize = 1024;

/// How many lists the tracked sites are spread over (by hash).
const STRIPES: usize = 64;

/// How often, at most, the timer looks for ended windows (and at least every half window).
const TIMER_TICK_MAX: Duration = Duration::from_secs(1);
const TIMER_TICK_MIN: Duration = Duration::from_millis(5);

/// How mruntime samples the reports of recovered panics, per site: set with
/// [`set_panic_sampling`]. Off by default: every panic gets its full report.
///
/// A *site* is where the panic was raised (file, line, column) together with the component and
/// name of the guard that recovered it. Whatever is sampled, every panic is counted in
/// `panic_recovered_total` and marks its span with status Error.
///
/// ```
/// use std::time::Duration;
/// use mruntime::PanicSampling;
///
/// // The first 10 panics of each site in every minute get the full report.
/// let storm_proof = PanicSampling::per_site(10, Duration::from_secs(60));
/// assert_ne!(storm_proof, PanicSampling::off());
/// assert_eq!(PanicSampling::default(), PanicSampling::off());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PanicSampling {
    /// `(first, window)`; `None`: off.
    per_site: Option<(u32, Duration)>,
}

impl PanicSampling {
    /// No sampling: every recovered panic gets its full report (the default).
    ///
    /// ```
    /// mruntime::set_panic_sampling(mruntime::PanicSampling::off());
    /// ```
    pub const fn off() -> Self {
        PanicSampling { per_site: None }
    }

    /// In every `window` (counted from a site's first panic after the previous window ended),
    /// the first `first` panics of each site get the full report (the tracing event with stack,
    /// the OpenTelemetry `exception` event, the error reporter); the others are suppressed:
    /// counted in `panic_recovered_total` and `panic_log_suppressed_total`, their span marked
    /// Error, and nothing else is captured, formatted or sent. A window in which panics were
    /// suppressed ends with one `panic.suppressed` event.
    ///
    /// Windows are measured in whole milliseconds (at least one, at most `u32::MAX`: 49 days).
    ///
    /// ```
    /// use std::time::Duration;
    /// let sampling = mruntime::PanicSampling::per_site(5, Duration::from_secs(10));
    /// mruntime::set_panic_sampling(sampling);
    /// # mruntime::set_panic_sampling(mruntime::PanicSampling::off());
    /// ```
    pub const fn per_site(first: u32, window: Duration) -> Self {
        PanicSampling {
            per_site: Some((first, window)),
        }
    }

    /// The config word: 0 when off, else `first` above 32 bits and the window's milliseconds.
    fn encode(self) -> u64 {
        match self.per_site {
            None => 0,
            Some((first, window)) => {
                let ms = window.as_millis().clamp(1, u128::from(u32::MAX)) as u64;
                (u64::from(first) << 32) | ms
            }
        }
    }
}

/// Sets how recovered panics are sampled, process-wide, from the next panic on (see
/// [`PanicSampling`]). Windows with suppressed panics still open are ended first: their
/// `panic.suppressed` summaries are emitted now, on this thread.
///
/// A [`CrashProcess`](crate::PanicPolicy::CrashProcess) panic is never sampled; a panic
/// [caught elsewhere](crate::Panicked::caught_elsewhere) is sampled like any other.
///
/// ```
/// use std::time::Duration;
/// use mruntime::{PanicPolicy, PanicSampling};
///
/// mruntime::set_panic_sampling(PanicSampling::per_site(1, Duration::from_secs(60)));
/// for _ in 0..3 {
///     // The first gets the full report; the next two are counted only.
///     let _ = mruntime::guard("ingest", "parse", PanicPolicy::KeepRunning, || panic!("bad row"));
/// }
/// // Turning it off (or shutting a `TaskGroup` down) emits the summary: count = 2.
/// mruntime::set_panic_sampling(PanicSampling::off());
/// ```
pub fn set_panic_sampling(sampling: PanicSampling) {
    SAMPLER.configure(sampling);
    super::emit_summaries(SAMPLER.take_due());
}

/// The process's sampler.
static SAMPLER: Sampler = Sampler::new(MAX_SITES);

/// For the hook: the verdict on a panic at `location` inside a guard of `site`. Never panics.
pub(crate) fn sample_panic(
    site: &Site,
    location: &Location<'_>,
    payload: &(dyn Any + Send),
) -> Verdict {
    if cfg!(panic = "abort") {
        return Verdict::REPORT; // every panic ends the process: none is sampled
    }
    SAMPLER.admit(site, location, payload, Instant::now())
}

/// Ends every window with suppressed panics now (a `TaskGroup` shutting down, a crash) and
/// returns the summaries to emit, with those already due.
pub(crate) fn end_all_windows() -> Vec<Summary> {
    SAMPLER.end_all(Instant::now());
    SAMPLER.take_due()
}

/// The summaries of windows that ended (at a site's next panic or by the timer), when any.
#[inline]
pub(crate) fn take_due() -> Vec<Summary> {
    if !SAMPLER.any_due.load(Ordering::Acquire) {
        return Vec::new();
    }
    SAMPLER.take_due()
}

/// Starts the timer that ends windows nobody else ends (a site that stopped panicking), unless
/// it runs: one OS thread through `spawn.rs`, which stops when sampling is turned off.
pub(crate) fn ensure_timer() {
    if TIMER_RUNNING.load(Ordering::Relaxed)
        || TIMER_RUNNING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if crate::spawn::thread("mruntime-panic-sampling", run_timer).is_err() {
        // No thread: windows end at the next panic of their site and at shutdown; a later
        // suppressed panic tries again.
        TIMER_RUNNING.store(false, Ordering::Release);
    }
}

static TIMER_RUNNING: AtomicBool = AtomicBool::new(false);

/// The timer's loop: every tick (half a window, within 5 ms..1 s) end the windows that are
/// over and emit their summaries; stop once sampling is off and nothing is left.
fn run_timer() {
    loop {
        let config = SAMPLER.config.load(Ordering::Acquire);
        let tick = match decode(config) {
            Some((_, window)) => (window / 2).clamp(TIMER_TICK_MIN, TIMER_TICK_MAX),
            None => {
                TIMER_RUNNING.store(false, Ordering::Release);
                // Turned on again meanwhile: go on, unless another timer took over.
                if SAMPLER.config.load(Ordering::Acquire) != 0
                    && TIMER_RUNNING
                        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                        .is_ok()
                {
                    continue;
                }
                return;
            }
        };
        std::thread::park_timeout(tick);
        SAMPLER.end_expired(Instant::now());
        super::emit_summaries(take_due());
    }
}

fn decode(config: u64) -> Option<(u32, Duration)> {
    (config != 0).then(|| {
        (
            (config >> 32) as u32,
            Duration::from_millis(config & u64::from(u32::MAX)),
        )
    })
}

/// The sampling state: the tracked sites, the overflow bucket, the summaries due.
pub(crate) struct Sampler {
    /// [`PanicSampling::encode`]d.
    config: AtomicU64,
    /// Bumped by every [`configure`](Self::configure): an entry of an older one restarts.
    generation: AtomicU64,
    stripes: [Mutex<Vec<Entry>>; STRIPES],
    /// Sites tracked in `stripes`.
    sites: AtomicUsize,
    max_sites: usize,
    overflow: Mutex<Option<Entry>>,
    /// Summaries of ended windows, at most one per entry (a later one merges into it).
    due: Mutex<Vec<Summary>>,
    any_due: AtomicBool,
}

/// One tracked site (or the overflow bucket) and its current window.
struct Entry {
    hash: u64,
    /// `None` for the overflow bucket.
    key: Option<Key>,
    generation: u64,
    window_start: Instant,
    /// Panics in the current window so far (reported and suppressed).
    in_window: u32,
    /// The current window's suppressed panics, when any.
    open: Option<Open>,
    /// Suppressed since the site's last full report: the next one carries it.
    carried: u64,
    /// `panic recovered in <component>/<name>`, interned at the first suppression.
    status: Option<&'static str>,
}

/// Where a site is: the guard's component and name, the panic's location.
struct Key {
    component: &'static str,
    name: &'static str,
    /// `file:line:column`; `text[..file_len]` is the file.
    text: Arc<str>,
    file_len: usize,
    /// The address of the file's text as the location gave it (a static's, for every panic of
    /// that `panic!`).
    file_address: usize,
    line: u32,
    column: u32,
}

/// String equality, at once when both are the same text.
fn same_str(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

impl Key {
    fn new(site: &Site, location: &Location<'_>) -> Key {
        let text = format!(
            "{}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        );
        Key {
            component: site.component(),
            name: site.name(),
            text: text.into(),
            file_len: location.file().len(),
            file_address: location.file().as_ptr() as usize,
            line: location.line(),
            column: location.column(),
        }
    }

    fn is(&self, site: &Site, location: &Location<'_>) -> bool {
        let file = location.file();
        // Mostly the very same static text: then no byte compare.
        let same_file = (self.file_address == file.as_ptr() as usize
            && self.file_len == file.len())
            || self.text.get(..self.file_len) == Some(file);
        self.line == location.line()
            && self.column == location.column()
            && same_str(self.component, site.component())
            && same_str(self.name, site.name())
            && same_file
    }
}

/// The suppressed panics of a window.
struct Open {
    count: u64,
    /// The wall time of the first; the last's is derived from the monotonic clock (one clock
    /// read per suppressed panic, the one the hook takes anyway).
    first: SystemTime,
    first_instant: Instant,
    last_instant: Instant,
    message: LastMessage,
    /// The subscriber of the thread that suppressed the first one: the summary goes there.
    dispatch: Option<Dispatch>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A site's hash from its numbers only (line, column, the lengths of file, component and
/// name; [`Key::is`] compares the text): a few multiplies in the hook, where SipHash over the
/// strings cost a thousand instructions per panic.
fn key_hash(site: &Site, location: &Location<'_>) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95; // FxHash's
    [
        u64::from(location.line()),
        u64::from(location.column()),
        location.file().len() as u64,
        site.component().len() as u64,
        site.name().len() as u64,
    ]
    .into_iter()
    .fold(0, |h, word| (h.rotate_left(5) ^ word).wrapping_mul(K))
}

impl Entry {
    fn new(hash: u64, key: Option<Key>, now: Instant, generation: u64) -> Entry {
        Entry {
            hash,
            key,
            generation,
            window_start: now,
            in_window: 0,
            open: None,
            carried: 0,
            status: None,
        }
    }

    /// The span status text of a suppressed panic of this entry's site.
    fn status(&mut self) -> Option<&'static str> {
        let key = self.key.as_ref()?;
        Some(*self.status.get_or_insert_with(|| {
            // Once per tracked site for the process's life: bounded by `MAX_SITES`.
            let text = format!("panic recovered in {}/{}", key.component, key.name);
            Box::leak(text.into_boxed_str())
        }))
    }

    fn summary(&mut self) -> Option<Summary> {
        let open = self.open.take()?;
        let (component, name, location) = match &self.key {
            Some(key) => (key.component, key.name, Some(Arc::clone(&key.text))),
            None => ("", "", None),
        };
        Some(Summary {
            component,
            name,
            location,
            count: open.count,
            first: open.first,
            last: open.first
                + open
                    .last_instant
                    .saturating_duration_since(open.first_instant),
            message: open.message,
            dispatch: open.dispatch,
        })
    }
}

impl Sampler {
    pub(crate) const fn new(max_sites: usize) -> Sampler {
        Sampler {
            config: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            stripes: [const { Mutex::new(Vec::new()) }; STRIPES],
            sites: AtomicUsize::new(0),
            max_sites,
            overflow: Mutex::new(None),
            due: Mutex::new(Vec::new()),
            any_due: AtomicBool::new(false),
        }
    }

    fn configure(&self, sampling: PanicSampling) {
        // Open windows end under the sampling they were opened with.
        self.end_all(Instant::now());
        self.config.store(sampling.encode(), Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The verdict on one panic; `now` is the time it was raised. Never panics.
    pub(crate) fn admit(
        &self,
        site: &Site,
        location: &Location<'_>,
        payload: &(dyn Any + Send),
        now: Instant,
    ) -> Verdict {
        let config = self.config.load(Ordering::Acquire);
        let Some((first, window)) = decode(config) else {
            return Verdict::REPORT;
        };
        if site.policy() == PanicPolicy::CrashProcess {
            return Verdict::REPORT;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let hash = key_hash(site, location);
        let mut entries = lock(&self.stripes[(hash >> 32) as usize % STRIPES]);
        let at = entries
            .iter()
            .position(|e| e.hash == hash && e.key.as_ref().is_some_and(|k| k.is(site, location)));
        let at = match at {
            Some(at) => at,
            None if self.reserve_site() => {
                let key = Key::new(site, location);
                entries.push(Entry::new(hash, Some(key), now, generation));
                entries.len() - 1
            }
            None => {
                drop(entries);
                let mut overflow = lock(&self.overflow);
                let entry = overflow.get_or_insert_with(|| Entry::new(0, None, now, generation));
                return self.admit_in(entry, first, window, generation, now, payload);
            }
        };
        self.admit_in(&mut entries[at], first, window, generation, now, payload)
    }

    fn reserve_site(&self) -> bool {
        self.sites
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_sites).then_some(n + 1)
            })
            .is_ok()
    }

    fn admit_in(
        &self,
        entry: &mut Entry,
        first: u32,
        window: Duration,
        generation: u64,
        now: Instant,
        payload: &(dyn Any + Send),
    ) -> Verdict {
        let stale = entry.generation != generation;
        if stale || now.saturating_duration_since(entry.window_start) >= window {
            self.end_window(entry);
            entry.generation = generation;
            entry.window_start = now;
            entry.in_window = 0;
        }
        entry.in_window = entry.in_window.saturating_add(1);
        if entry.in_window <= first {
            return Verdict::Report {
                suppressed_before: std::mem::take(&mut entry.carried),
            };
        }
        let open = entry.open.get_or_insert_with(|| Open {
            count: 0,
            first: SystemTime::now(),
            first_instant: now,
            last_instant: now,
            message: LastMessage::None,
            dispatch: Some(tracing::dispatcher::get_default(Dispatch::clone)),
        });
        open.count += 1;
        open.last_instant = now;
        open.message.set(payload);
        entry.carried += 1;
        Verdict::Suppress {
            status: entry.status(),
        }
    }

    /// Moves the entry's open window, if it suppressed anything, to the summaries due.
    fn end_window(&self, entry: &mut Entry) {
        let Some(summary) = entry.summary() else {
            return;
        };
        let mut due = lock(&self.due);
        match due.iter_mut().find(|s| s.same_site(&summary)) {
            Some(earlier) => earlier.merge(summary),
            None => due.push(summary),
        }
        self.any_due.store(true, Ordering::Release);
    }

    /// Ends every window with suppressed panics; the next panic of its site opens a new one.
    fn end_all(&self, now: Instant) {
        self.for_each_entry(|entry| {
            if entry.open.is_some() {
                self.end_window(entry);
                entry.window_start = now;
                entry.in_window = 0;
            }
        });
    }

    /// Ends the windows with suppressed panics that are over (or opened under another config).
    fn end_expired(&self, now: Instant) {
        let generation = self.generation.load(Ordering::Acquire);
        let window = decode(self.config.load(Ordering::Acquire)).map(|(_, w)| w);
        self.for_each_entry(|entry| {
            let over = entry.generation != generation
                || window.is_none_or(|w| now.saturating_duration_since(entry.window_start) >= w);
            if entry.open.is_some() && over {
                self.end_window(entry);
            }
        });
    }

    fn for_each_entry(&self, mut f: impl FnMut(&mut Entry)) {
        for stripe in &self.stripes {
            lock(stripe).iter_mut().for_each(&mut f);
        }
        if let Some(entry) = lock(&self.overflow).as_mut() {
            f(entry);
        }
    }

    fn take_due(&self) -> Vec<Summary> {
        let mut due = lock(&self.due);
        self.any_due.store(false, Ordering::Release);
        std::mem::take(&mut *due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: Site = Site::new("c", "n", PanicPolicy::KeepRunning);

    fn on(sampler: &Sampler, first: u32, window_ms: u64) {
        sampler.configure(PanicSampling::per_site(
            first,
            Duration::from_millis(window_ms),
        ));
    }

    fn verdicts(sampler: &Sampler, site: &Site, n: usize, now: Instant) -> Vec<Verdict> {
        let location = Location::caller();
        (0..n)
            .map(|_| sampler.admit(site, location, &"boom", now))
            .collect()
    }

    fn suppressed(v: &[Verdict]) -> usize {
        v.iter()
            .filter(|v| matches!(v, Verdict::Suppress { .. }))
            .count()
    }

    #[test]
    fn the_first_of_each_window_are_reported_and_the_next_report_carries_the_rest() {
        let sampler = Sampler::new(8);
        on(&sampler, 2, 1000);
        let t0 = Instant::now();
        let v = verdicts(&sampler, &SITE, 5, t0);
        assert_eq!(v[..2], [Verdict::REPORT, Verdict::REPORT]);
        assert_eq!(suppressed(&v), 3);
        assert!(
            matches!(v[2], Verdict::Suppress { status: Some(s) } if s == "panic recovered in c/n")
        );
        assert!(sampler.take_due().is_empty(), "the window is not over");
        let next = verdicts(&sampler, &SITE, 1, t0 + Duration::from_millis(1000));
        assert_eq!(
            next,
            [Verdict::Report {
                suppressed_before: 3
            }]
        );
        let due = sampler.take_due();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].count, due[0].component, due[0].name), (3, "c", "n"));
    }

    #[test]
    fn crash_process_sites_and_off_are_never_sampled() {
        let sampler = Sampler::new(8);
        on(&sampler, 0, 1000);
        let crash = Site::new("c", "n", PanicPolicy::CrashProcess);
        assert_eq!(
            suppressed(&verdicts(&sampler, &crash, 3, Instant::now())),
            0
        );
        assert_eq!(suppressed(&verdicts(&sampler, &SITE, 3, Instant::now())), 3);
        sampler.configure(PanicSampling::off());
        assert_eq!(
            sampler.take_due()[0].count,
            3,
            "turning it off ends the window"
        );
        assert_eq!(suppressed(&verdicts(&sampler, &SITE, 3, Instant::now())), 0);
    }

    #[test]
    fn sites_beyond_the_limit_share_one_bucket() {
        let sampler = Sampler::new(2);
        on(&sampler, 1, 60_000);
        let names: [&'static str; 4] = ["a", "b", "c", "d"];
        let now = Instant::now();
        let mut total_suppressed = 0;
        for name in names {
            let site = Site::new("x", name, PanicPolicy::KeepRunning);
            total_suppressed += suppressed(&verdicts(&sampler, &site, 3, now));
        }
        // a and b tracked (2 suppressed each); c and d share the bucket: 1 reported, 5 not.
        assert_eq!(total_suppressed, 2 + 2 + 5);
        sampler.end_all(now);
        let mut counts: Vec<u64> = sampler.take_due().iter().map(|s| s.count).collect();
        counts.sort_unstable();
        assert_eq!(counts, [2, 2, 5]);
    }

    #[test]
    fn the_timer_ends_only_windows_that_are_over() {
        let sampler = Sampler::new(8);
        on(&sampler, 0, 100);
        let t0 = Instant::now();
        verdicts(&sampler, &SITE, 2, t0);
        sampler.end_expired(t0 + Duration::from_millis(50));
        assert!(sampler.take_due().is_empty());
        sampler.end_expired(t0 + Duration::from_millis(100));
        assert_eq!(sampler.take_due()[0].count, 2);
        sampler.end_expired(t0 + Duration::from_millis(300));
        assert!(sampler.take_due().is_empty(), "summarised once");
    }

    #[test]
    fn a_string_message_is_kept_bounded() {
        let sampler = Sampler::new(8);
        on(&sampler, 0, 1000);
        let long = "é".repeat(5000);
        sampler.admit(&SITE, Location::caller(), &long, Instant::now());
        sampler.end_all(Instant::now());
        let due = sampler.take_due();
        let text = due[0].message.text();
        assert!(text.len() <= 4096 && text.chars().all(|c| c == 'é'));
    }
}
