//! The metrics sink: `panic_recovered_total`, `task_restarts_total`, and the opt-in task
//! lifecycle instruments.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

use opentelemetry::metrics::{Counter, Gauge, Meter, MeterProvider, UpDownCounter};
use opentelemetry::{KeyValue, global};

use crate::panic::Panicked;
use crate::site::Site;
use crate::telemetry::limits::label;

/// The name the instruments' meter (instrumentation scope) is registered under.
const SCOPE: &str = "mruntime";

/// Where the instruments come from, and the instruments built from it.
struct Source {
    /// An explicit meter set by [`init_panic_metrics`]; `None` means "the global provider, as it
    /// is at the time of each panic".
    explicit: Option<Meter>,
    /// The counters, built once per meter: building them from a meter costs more than counting
    /// (~770 instructions per panic under the no-op provider, and an instrument lookup under the
    /// SDK's).
    cached: Option<Counters>,
}

#[derive(Clone)]
struct Counters {
    /// The global provider these were built from (`None`: from the explicit meter). A `Weak`
    /// pins the provider's allocation, not the provider: while it is held no other provider can
    /// get the same address, so an address compare tells whether the global provider was
    /// replaced, and dropping a replaced provider still shuts it down.
    global: Option<Weak<dyn MeterProvider + Send + Sync>>,
    panics: Counter<u64>,
    restarts: Counter<u64>,
    up: Gauge<u64>,
    suppressed: Counter<u64>,
}

impl Counters {
    fn new(meter: &Meter, global: Option<Weak<dyn MeterProvider + Send + Sync>>) -> Self {
        Counters {
            global,
            panics: meter
                .u64_counter("panic_recovered_total")
                .with_unit("1")
                .with_description("Total number of recovered panics")
                .build(),
            restarts: meter
                .u64_counter("task_restarts_total")
                .with_unit("1")
                .with_description("Total number of restarts of supervised tasks")
                .build(),
            up: meter
                .u64_gauge("task_up")
                .with_unit("1")
                .with_description("1 while a health component is serving or restarting, else 0")
                .build(),
            suppressed: meter
                .u64_counter("panic_log_suppressed_total")
                .with_unit("1")
                .with_description("Recovered panics whose report panic sampling suppressed")
                .build(),
        }
    }

    /// Whether these counters are the ones to use now: built from the explicit meter, or from
    /// the global provider that is installed now.
    fn current(&self, explicit: bool, global: Option<&GlobalProvider>) -> bool {
        match (&self.global, global) {
            (None, None) => explicit,
            (Some(built_from), Some(now)) => {
                std::ptr::addr_eq(built_from.as_ptr(), Arc::as_ptr(now))
            }
            _ => false,
        }
    }
}

type GlobalProvider = Arc<dyn MeterProvider + Send + Sync>;

static SOURCE: RwLock<Source> = RwLock::new(Source {
    explicit: None,
    cached: None,
});

/// Sets the meter mruntime's instruments are created from (the Go `InitPanicMetrics`).
///
/// Without it, each recovered panic is counted through
/// `opentelemetry::global::meter_provider()` as it is at that moment, so a provider installed
/// after the first guarded call still receives every count.
///
/// ```
/// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// mruntime::init_panic_metrics(opentelemetry::metrics::MeterProvider::meter(&provider, "my-service"));
/// ```
pub fn init_panic_metrics(meter: Meter) {
    {
        let mut source = SOURCE.write().unwrap_or_else(PoisonError::into_inner);
        source.cached = Some(Counters::new(&meter, None));
        source.explicit = Some(meter);
        SOURCE_VERSION.fetch_add(1, Ordering::Release);
    }
    if task_metrics_enabled() {
        enable_task_metrics(true); // rebuild the lifecycle instruments on the new meter
    }
}

fn meter() -> Meter {
    SOURCE
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .explicit
        .clone()
        .unwrap_or_else(|| global::meter(SCOPE))
}

/// Bumped by [`init_panic_metrics`] once the explicit meter is set: a thread's cached counters
/// are of the current source while it matches.
static SOURCE_VERSION: AtomicU64 = AtomicU64::new(0);

/// A thread's copy of the counters to use, as [`counters_now`] gave them.
struct ThreadCounters {
    version: u64,
    /// Whether they are the explicit meter's (then no provider needs checking).
    explicit: bool,
    counters: Counters,
}

thread_local! {
    /// This thread's counters: counting reads one atomic and (without an explicit meter) the
    /// global provider, not [`SOURCE`]'s lock, and uses the counter without cloning it, so
    /// threads counting at once share no lock or count of ours.
    static THREAD_COUNTERS: RefCell<Option<ThreadCounters>> = const { RefCell::new(None) };
}

/// Calls `f` with one of the counters of the current meter: this thread's copy while its source
/// has not changed (for the global provider: while it is the one installed now), else the
/// current ones, cached for the next call. No lock is held while the counter is used or built,
/// so an exporter or a subscriber that ends up here again cannot deadlock.
fn with_counter<I>(pick: fn(&Counters) -> &I, f: impl Fn(&I)) {
    with_counters(|counters| f(pick(counters)));
}

/// [`with_counter`] with every counter: one check of the source for several counts.
fn with_counters(f: impl Fn(&Counters)) {
    let version = SOURCE_VERSION.load(Ordering::Acquire);
    let counted = THREAD_COUNTERS.try_with(|cache| {
        let mut cache = cache.try_borrow_mut().ok()?;
        let current = match &*cache {
            Some(c) if c.version == version && c.explicit => true,
            Some(c) if c.version == version => {
                let global = global::meter_provider();
                c.counters.current(false, Some(&global))
            }
            _ => false,
        };
        if !current {
            let (explicit, counters) = counters_now();
            *cache = Some(ThreadCounters {
                version,
                explicit,
                counters,
            });
        }
        cache.as_ref().map(|c| f(&c.counters))
    });
    if !matches!(counted, Ok(Some(()))) {
        // The thread is exiting, or counting re-entered itself: no copy, the current counters.
        f(&counters_now().1);
    }
}

/// The counters of the current meter, and whether it is the explicit one: the cached ones while
/// the meter has not changed, else new ones, cached for the next call.
fn counters_now() -> (bool, Counters) {
    let (explicit, global) = {
        let source = SOURCE.read().unwrap_or_else(PoisonError::into_inner);
        let global = source.explicit.is_none().then(global::meter_provider);
        if let Some(counters) = &source.cached
            && counters.current(source.explicit.is_some(), global.as_ref())
        {
            return (source.explicit.is_some(), counters.clone());
        }
        (source.explicit.clone(), global)
    };
    let is_explicit = explicit.is_some();
    let counters = match (explicit, global) {
        (Some(meter), _) => Counters::new(&meter, None),
        (None, Some(global)) => Counters::new(&global.meter(SCOPE), Some(Arc::downgrade(&global))),
        (None, None) => Counters::new(&global::meter(SCOPE), None),
    };
    let mut source = SOURCE.write().unwrap_or_else(PoisonError::into_inner);
    // Those of the global provider only: `init_panic_metrics` caches its own, and a meter it set
    // meanwhile takes over.
    if source.explicit.is_none() && counters.global.is_some() {
        source.cached = Some(counters.clone());
    }
    (is_explicit, counters)
}

fn site_labels(site: &Site) -> [KeyValue; 3] {
    [
        KeyValue::new("component", label(site.component())),
        KeyValue::new("goroutine_name", label(site.name())),
        KeyValue::new("policy", site.policy().as_str()),
    ]
}

/// Counts one recovered panic: `panic_recovered_total{component, goroutine_name, policy}`.
pub(crate) fn panic_recovered(panicked: &Panicked) {
    // Static strings only: the labels own nothing, so they need no drop (its glue walks every
    // variant of key and value, per panic).
    let labels = ManuallyDrop::new(site_labels(panicked.site()));
    with_counter(|c| &c.panics, |counter| counter.add(1, &*labels));
}

/// Sets `task_up{component, goroutine_name}` of a health component.
pub(crate) fn task_up(component: &'static str, name: &'static str, up: bool) {
    let labels = ManuallyDrop::new([
        KeyValue::new("component", label(component)),
        KeyValue::new("goroutine_name", label(name)),
    ]);
    with_counter(|c| &c.up, |gauge| gauge.record(u64::from(up), &*labels));
}

/// Counts one recovered panic whose report sampling suppressed: `panic_recovered_total` as
/// every panic, and `panic_log_suppressed_total{component, goroutine_name}`.
pub(crate) fn panic_suppressed(site: &Site) {
    let labels = ManuallyDrop::new(site_labels(site));
    with_counters(|c| {
        c.panics.add(1, &*labels);
        c.suppressed.add(1, &labels[..2]);
    });
}

/// Counts one restart of a supervised task: `task_restarts_total{component, goroutine_name}`.
pub(crate) fn task_restarted(site: &Site) {
    let labels = [
        KeyValue::new("component", label(site.component())),
        KeyValue::new("goroutine_name", label(site.name())),
    ];
    with_counter(|c| &c.restarts, |counter| counter.add(1, &labels));
}

struct Lifecycle {
    started: Counter<u64>,
    finished: Counter<u64>,
    active: UpDownCounter<i64>,
}

static LIFECYCLE_ON: AtomicBool = AtomicBool::new(false);
static LIFECYCLE: RwLock<Option<Arc<Lifecycle>>> = RwLock::new(None);

/// Turns the task lifecycle metrics on or off (default off, so a spawn costs nothing extra):
/// `tasks_started_total{component}`, `tasks_finished_total{component, outcome}` with outcome
/// `ok`, `panicked` or `cancelled`, and `tasks_active{component}`.
///
/// The instruments are created when this is called, from the meter of [`init_panic_metrics`]
/// or the global provider as it is then.
pub fn enable_task_metrics(on: bool) {
    let instruments = on.then(|| {
        let meter = meter();
        Arc::new(Lifecycle {
            started: meter
                .u64_counter("tasks_started_total")
                .with_unit("1")
                .with_description("Total number of guarded tasks started")
                .build(),
            finished: meter
                .u64_counter("tasks_finished_total")
                .with_unit("1")
                .with_description("Total number of guarded tasks finished, by outcome")
                .build(),
            active: meter
                .i64_up_down_counter("tasks_active")
                .with_unit("1")
                .with_description("Number of guarded tasks running now")
                .build(),
        })
    });
    *LIFECYCLE.write().unwrap_or_else(PoisonError::into_inner) = instruments;
    LIFECYCLE_ON.store(on, Ordering::Release);
}

/// Whether lifecycle metrics are on: one relaxed load on the spawn path.
#[inline]
pub(crate) fn task_metrics_enabled() -> bool {
    LIFECYCLE_ON.load(Ordering::Relaxed)
}

/// Tracks one task's lifecycle; dropped without [`finish`](Self::finish) means cancelled.
pub(crate) struct TaskLifecycle {
    instruments: Option<Arc<Lifecycle>>,
    component: KeyValue,
}

impl TaskLifecycle {
    pub(crate) fn start(site: &Site) -> Self {
        let instruments = LIFECYCLE
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let component = KeyValue::new("component", label(site.component()));
        if let Some(i) = &instruments {
            i.started.add(1, std::slice::from_ref(&component));
            i.active.add(1, std::slice::from_ref(&component));
        }
        TaskLifecycle {
            instruments,
            component,
        }
    }

    pub(crate) fn finish(mut self, panicked: bool) {
        self.record(if panicked { "panicked" } else { "ok" });
    }

    fn record(&mut self, outcome: &'static str) {
        if let Some(i) = self.instruments.take() {
            i.finished.add(
                1,
                &[self.component.clone(), KeyValue::new("outcome", outcome)],
            );
            i.active.add(-1, std::slice::from_ref(&self.component));
        }
    }
}

impl Drop for TaskLifecycle {
    fn drop(&mut self) {
        self.record("cancelled");
    }
}
