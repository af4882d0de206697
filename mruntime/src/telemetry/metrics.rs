//! The metrics sink: `panic_recovered_total`, `task_restarts_total`, and the opt-in task
//! lifecycle instruments.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::metrics::{Counter, Meter, UpDownCounter};
use opentelemetry::{KeyValue, global};

use crate::panic::Panicked;
use crate::site::Site;
use crate::telemetry::limits::label;

/// The name the instruments' meter (instrumentation scope) is registered under.
const SCOPE: &str = "mruntime";

/// An explicit meter set by [`init_panic_metrics`]; `None` means "the global provider, as it
/// is at the time of each panic".
static EXPLICIT_METER: RwLock<Option<Meter>> = RwLock::new(None);

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
    *EXPLICIT_METER
        .write()
        .unwrap_or_else(PoisonError::into_inner) = Some(meter);
    if task_metrics_enabled() {
        enable_task_metrics(true); // rebuild the lifecycle instruments on the new meter
    }
}

fn meter() -> Meter {
    EXPLICIT_METER
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
        .unwrap_or_else(|| global::meter(SCOPE))
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
    let counter: Counter<u64> = meter()
        .u64_counter("panic_recovered_total")
        .with_unit("1")
        .with_description("Total number of recovered panics")
        .build();
    counter.add(1, &site_labels(panicked.site()));
}

/// Counts one restart of a supervised task: `task_restarts_total{component, goroutine_name}`.
pub(crate) fn task_restarted(site: &Site) {
    let counter: Counter<u64> = meter()
        .u64_counter("task_restarts_total")
        .with_unit("1")
        .with_description("Total number of restarts of supervised tasks")
        .build();
    counter.add(
        1,
        &[
            KeyValue::new("component", label(site.component())),
            KeyValue::new("goroutine_name", label(site.name())),
        ],
    );
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
